"""A bot call that the bot transfers goes on, as the same call, to an agent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox import formats as fmt
from sandbox.account import BOT_NUMBER, MAIN_NUMBER, Agent
from sandbox.server import SandboxServer
from sandbox.testing import StreamRecorder
from sandbox.traffic import BotCall

CUSTOMER = "+919877700002"


@dataclass
class Report:
    """What a bot hook's task returns, as far as the sandbox cares (a CallReport's shape)."""

    outcome: str
    transfer_to: str | None = None


def bot_ending(report: Any) -> Callable[[BotCall], Awaitable[Any]]:
    async def bot(call: BotCall) -> Any:
        await asyncio.sleep(0.02)  # the conversation (real time)
        return report

    return bot


def agent_status_at_each_event(sandbox: SandboxServer) -> list[tuple[str, dict[str, str]]]:
    """(event, every agent's status) as each event is published."""
    seen: list[tuple[str, dict[str, str]]] = []
    publish = sandbox.hub.publish

    def spy(payload: dict[str, Any]) -> int:
        seen.append((payload.get("event_type", "CDR"), {a.phone_number: a.status for a in sandbox.account.agents}))
        return publish(payload)

    sandbox.hub.publish = spy  # type: ignore[method-assign]
    return seen


async def call_bot(sandbox: SandboxServer, report: Any) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    sandbox.set_inbound_bot_hook(bot_ending(report))
    async with StreamRecorder(sandbox.stream_url) as rec:
        call_uuid = sandbox.place_inbound_call(knowlarity_number=BOT_NUMBER, customer_number=CUSTOMER)
        cdr = await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == call_uuid)
    return call_uuid, [e for e in rec.for_call(call_uuid) if "event_type" in e], cdr


def available(sandbox: SandboxServer) -> list[Agent]:
    return [a for a in sandbox.account.agents if a.status == "Available"]


@pytest.mark.parametrize("spelling", ["e164", "national"])
async def test_transfer_to_an_agent_rings_that_agent(sandbox: SandboxServer, spelling: str) -> None:
    agent = available(sandbox)[0]
    number = agent.phone_number if spelling == "e164" else "0" + fmt.national(agent.phone_number)
    statuses = agent_status_at_each_event(sandbox)
    call_uuid, events, cdr = await call_bot(sandbox, Report("transferred", number))
    assert [e["event_type"] for e in events] == ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP"]
    assert {e["uuid"] for e in events} == {call_uuid}
    assert events[0]["agent_number"] is None
    assert all(e["agent_number"] == agent.phone_number for e in events[1:])
    assert all(e["knowlarity_number"] == BOT_NUMBER and e["call_direction"] == "Inbound" for e in events)
    assert events[-1]["business_call_type"] == "Inbound" and events[-1]["call_recording"]
    assert [s[agent.phone_number] for _, s in statuses] == [
        "Available", "Available", "On Call", "On Call", "Available", "Available"]  # ... HANGUP, CDR
    assert (cdr["business_call_type"], cdr["destination"], cdr["caller_id"]) == ("Phone", agent.phone_number, CUSTOMER)
    assert cdr["Call_Type"] == "Incoming" and cdr["resource_url"]
    record = sandbox.account.calllog.get(call_uuid)
    assert record is not None
    assert (record.agent_number, record.destination, record.call_status, record.agent_status) == (
        agent.phone_number, agent.phone_number, "Connected", "Answered")
    assert record.business_call_type == "Phone" and record.pickup_ts is not None
    assert agent.status == "Available" and call_uuid not in sandbox.engine.active


async def test_transfer_to_the_main_number_rings_an_available_agent(sandbox: SandboxServer) -> None:
    free = {a.phone_number for a in available(sandbox)}
    call_uuid, events, cdr = await call_bot(sandbox, Report("transferred", MAIN_NUMBER))
    assert [e["event_type"] for e in events] == ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP"]
    assert events[1]["agent_number"] in free
    assert cdr["destination"] == events[1]["agent_number"] and cdr["business_call_type"] == "Phone"
    record = sandbox.account.calllog.get(call_uuid)
    assert record is not None and record.agent_number == events[1]["agent_number"]


async def test_transfer_to_an_agent_who_is_not_available_is_missed(sandbox: SandboxServer) -> None:
    agent = next(a for a in sandbox.account.agents if a.status == "Break")
    call_uuid, events, cdr = await call_bot(sandbox, Report("transferred", agent.phone_number))
    assert [e["event_type"] for e in events] == ["ORIGINATE", "AGENT_CALL", "HANGUP"]
    assert cdr["business_call_type"] == "Agent Missed"
    record = sandbox.account.calllog.get(call_uuid)
    assert record is not None and (record.agent_number, record.agent_status) == (agent.phone_number, "Missed")


@pytest.mark.parametrize("report", [
    Report("completed"), Report("disconnected"), Report("protocol error"), Report("transferred", None),
    Report("transferred", "+919000000001"),  # not a number of this account: nobody here to ring
    None, "transferred",
])
async def test_other_endings_keep_the_bot_call(sandbox: SandboxServer, report: Any) -> None:
    call_uuid, events, cdr = await call_bot(sandbox, report)
    assert [e["event_type"] for e in events] == ["ORIGINATE", "HANGUP"]
    assert all(e["agent_number"] is None for e in events)
    assert cdr["destination"] == "VoiceBot" and cdr["business_call_type"] == "Phone"
    record = sandbox.account.calllog.get(call_uuid)
    assert record is not None and (record.action, record.call_status) == ("Voice Bot", "Connected")
