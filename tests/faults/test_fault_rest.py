"""The REST API fails: 500s and timeouts. Reads retry and recover; a make call is never repeated.

Real loopback servers throughout: the sandbox, and a fault-injecting proxy in front of it
(faults_support.FaultProxy) that counts, on the server side, every request that reaches it.
The console is driven through `console.actions` (the code its screens run), so what is
checked is what a user sees: agents and the call log appear despite the failures, and a
dial that failed says so in words and rang nobody twice.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from console.actions import Actions
from console.api import CallLogQuery
from console.state import ConsoleState
from sandbox.server import SandboxServer
from tests.faults.faults_support import FaultProxy, console_settings, fast_client


def count_started_calls(sandbox: SandboxServer) -> list[object]:
    """Every call the sandbox's engine starts (server side: a customer's phone ringing)."""
    started: list[object] = []
    original = sandbox.engine.start

    def start(plan: object) -> object:
        started.append(plan)
        return original(plan)

    sandbox.engine.start = start  # type: ignore[method-assign]
    return started


async def test_reads_retry_through_500s_and_a_timeout_and_recover(sandbox: SandboxServer) -> None:
    async with FaultProxy(sandbox.base_url, hang_s=0.8) as proxy:
        proxy.plan("/account/agent", "500", "hang", "500")
        proxy.plan("/account/tasks", "pass-then-500")
        state = ConsoleState()
        async with fast_client(proxy.base_url, timeout=0.4) as client:
            actions = Actions(client, state, console_settings(proxy.base_url))
            await actions.load_agents()
            await actions.load_tasks()
        assert proxy.hits["/account/agent"] == 4, "three failures, then the fourth try passed"
        assert proxy.hits["/account/tasks"] == 2
        assert state.agents.error is None
        agents = state.agents.rows(state.view)
        assert len(agents) == len(sandbox.account.agents)
        assert state.tasks.rows(state.view)


async def test_reads_that_keep_failing_end_in_a_clear_message(sandbox: SandboxServer) -> None:
    async with FaultProxy(sandbox.base_url) as proxy:
        proxy.plan("/account/agent", "500", "500", "500", "500")
        state = ConsoleState()
        async with fast_client(proxy.base_url, retries=3) as client:
            actions = Actions(client, state, console_settings(proxy.base_url))
            await actions.load_agents()
        assert proxy.hits["/account/agent"] == 4  # 1 + 3 retries, then it gives up
        message = state.agents.error or ""
        assert "Internal server error" in message and "Traceback" not in message
        assert "sandbox-sr-key" not in message and "sandbox-api-key" not in message


async def test_call_log_paging_survives_a_500_mid_walk(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sandbox = await sandbox_factory(history=450)
    async with FaultProxy(sandbox.base_url, hang_s=0.8) as proxy:
        async with fast_client(proxy.base_url, timeout=0.4) as client:
            now = datetime.now(UTC)
            query = CallLogQuery(start_time__gt=now - timedelta(days=89), start_time__lt=now, limit=100)
            seen: list[str] = []
            pages = 0
            async for page in client.iter_call_log(query):
                pages += 1
                if pages == 2:
                    proxy.plan("/sr/calllog", "500", "hang")
                seen += [r.uuid or "" for r in page.objects]
        assert len(seen) == len(set(seen)) == 450, "every record once, none skipped, none repeated"
        assert proxy.hits["/sr/calllog"] >= 3


@pytest.mark.parametrize("fault", ["500", "pass-then-500", "pass-then-hang"])
async def test_a_make_call_is_sent_once_whatever_the_server_does(sandbox: SandboxServer, fault: str) -> None:
    """500 before the call, 500 after the call was placed, or no answer in time: one request,
    at most one ringing phone, and the dialog says what happened in words."""
    started = count_started_calls(sandbox)
    async with FaultProxy(sandbox.base_url, hang_s=0.8) as proxy:
        proxy.plan("/call/makecall", fault)  # type: ignore[arg-type]
        state = ConsoleState()
        async with fast_client(proxy.base_url, timeout=0.4, retries=3) as client:
            actions = Actions(client, state, console_settings(proxy.base_url))
            flow = actions.dial_flow()
            flow.prepare({"k_number": sandbox.account.main_number,
                          "agent_number": sandbox.account.default_agent.phone_number,
                          "customer_number": "+919811122233"})
            await asyncio.gather(flow.place(), flow.place())  # an impatient double press
            await asyncio.sleep(0.6)  # room for any retry that should not happen
        assert proxy.hits["/call/makecall"] == 1
        assert flow.requests_sent == 1
        assert flow.state == "failed"
        assert flow.outcome and "Traceback" not in flow.outcome
        if fault == "pass-then-hang":
            assert "check" in flow.outcome.lower() or "time" in flow.outcome.lower()
        c2c = [p for p in started if getattr(p, "kind", None) == "c2c"]
        assert len(c2c) == (0 if fault == "500" else 1)
