"""Snapshots of the main views at a fixed terminal size (pytest-textual-snapshot).

Deterministic by construction: the sandbox is seeded and generated at a fixed instant
(it runs in its own thread, since `snap_compare` runs the app in its own loop), there
is no background traffic, the console's clock is frozen, live data is fed in by the
test, and local time is UTC. Update after an intended change with
`pytest tests/console/test_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from console.api.client import KnowlarityClient
from console.app import ConsoleApp, ConsoleDeps, build_app
from console.botwatch import BusWatcher
from console.launch import sandbox_settings
from sandbox.account import Account
from sandbox.server import SandboxServer
from tests.console.conftest import until
from voice.bus import BargeIn, BotSentence, CallStarted, EventBus, StateChanged, TranscriptEvent, TurnMetrics

SIZE = (140, 45)
T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: the sandbox's "now" and the console's clock


class FrozenClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def frozen_sandbox() -> Iterator[SandboxServer]:
    """A seeded sandbox generated at T0, served from its own thread and loop."""
    original = Account.generate.__func__  # type: ignore[attr-defined]

    def at_t0(cls: type[Account], seed: int = 7, *, now: float | None = None, history: int = 3000) -> Account:
        return original(cls, seed, now=T0, history=history)

    Account.generate = classmethod(at_t0)  # type: ignore[method-assign,assignment]
    try:
        server = SandboxServer(seed=7)
    finally:
        Account.generate = classmethod(original)  # type: ignore[method-assign,assignment]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def quiet_live_stream(on_state: Any) -> AsyncIterator[Any]:
    """A connected stream with nothing on it: the test feeds the board itself."""
    on_state(type("S", (), {"status": "live"})())
    await asyncio.Event().wait()
    yield  # pragma: no cover


def make_app(sandbox: SandboxServer, clock: FrozenClock, *, bot: Any = None, start_view: str = "live") -> ConsoleApp:
    import argparse

    args = argparse.Namespace(sr_key=None, api_key=None, channel=None, agent=sandbox.account.default_agent.phone_number,
                              k_number=sandbox.account.main_number)
    settings = sandbox_settings(sandbox.base_url, args)
    deps = ConsoleDeps(
        client=KnowlarityClient.from_settings(settings),
        settings=settings,
        stream_factory=quiet_live_stream,
        bot=bot,
        clock=clock,
        source="sandbox",
        agent_poll_s=3600,
        start_view=start_view,
    )
    return build_app(deps)


def feed_board(app: ConsoleApp, clock: FrozenClock) -> None:
    board = app.state.board
    me = app.state.my_number
    calls = [
        ("c-connected", "Inbound", "+919811100001", "+919887967718", ("ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE")),
        ("c-ringing", "Inbound", "+919811100002", me, ("ORIGINATE", "AGENT_CALL")),
        ("c-outbound", "Outbound", "+919811100003", "+917190712619", ("ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "CUSTOMER_CALL")),
        ("c-ended", "Inbound", "+919811100004", "+916987350033", ("ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP")),
    ]
    for uuid, direction, customer, agent, events in calls:
        for event in events:
            board.ingest_event(uuid, event, direction=direction, customer=customer,
                               agent=None if event == "ORIGINATE" and direction == "Inbound" else agent,
                               knumber="+918047100100", business_call_type="Phone")
            clock.t += 7
    board.ingest_cdr("c-ended", incoming=True, duration=42, recording="http://127.0.0.1/kstorage/read?uuid=c-ended")
    board.pops.clear()  # the pop panel has its own test; the snapshot shows the board
    clock.t += 30


def feed_bot(bus: EventBus, clock: FrozenClock) -> None:
    t = clock.t - 40
    events = [
        CallStarted(call_id="bot-1", caller="+919811100007", virtual_number="+918047100300", ts=t),
        StateChanged(call_id="bot-1", state="speaking", ts=t),
        BotSentence(call_id="bot-1", text="Hello! Thanks for calling Acme. How can I help you today?", turn=0, ts=t),
        TurnMetrics(call_id="bot-1", turn=0, greeting_ms=12, total_ms=12, ts=t + 1),
        StateChanged(call_id="bot-1", state="listening", ts=t + 4),
        TranscriptEvent(call_id="bot-1", text="what are your opening hours", final=True, ts=t + 8),
        StateChanged(call_id="bot-1", state="speaking", ts=t + 9),
        BotSentence(call_id="bot-1", text="We are open from nine in the morning to six in the evening, Monday to Saturday.",
                    turn=1, ts=t + 9),
        BargeIn(call_id="bot-1", latency_ms=118, ts=t + 11),
        BotSentence(call_id="bot-1", text="We are open from nine in the morning to six in the evening, Monday to Saturday.",
                    turn=1, heard="We are open from nine in the morning", ts=t + 11),
        TurnMetrics(call_id="bot-1", turn=1, stt_final_ms=420, llm_first_token_ms=2, first_sentence_ms=3,
                    tts_first_byte_ms=95, first_audio_ms=101, total_ms=521, interrupted=True, ts=t + 11),
        StateChanged(call_id="bot-1", state="listening", ts=t + 11),
        TranscriptEvent(call_id="bot-1", text="where are you", final=False, ts=t + 12),
        CallStarted(call_id="bot-2", caller="+919811100008", virtual_number="+918047100300", ts=t + 20),
        StateChanged(call_id="bot-2", state="thinking", ts=t + 25),
    ]
    for event in events:
        bus.publish(event)


def test_live_view(snap_compare, frozen_sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    app = make_app(frozen_sandbox, clock)

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: app.stream_status.status == "live")
        feed_board(app, clock)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_agents_view(snap_compare, frozen_sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    app = make_app(frozen_sandbox, clock, start_view="agents")

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: app.screen.query_one("#agents-table").row_count == 12)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_tasks_view(snap_compare, frozen_sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    app = make_app(frozen_sandbox, clock, start_view="tasks")

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: app.screen.query_one("#tasks-table").row_count > 10)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_bot_view(snap_compare, frozen_sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    bus = EventBus()
    app = make_app(frozen_sandbox, clock, bot=BusWatcher(bus), start_view="bot")

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: bus.subscriber_count == 1)
        feed_bot(bus, clock)
        await until(pilot, lambda: app.screen.query_one("#bot-calls").row_count == 2)
        await pilot.press("j")  # the call with the conversation
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_dial_dialog(snap_compare, frozen_sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    app = make_app(frozen_sandbox, clock)

    async def run_before(pilot: Any) -> None:
        await pilot.pause(0.2)
        app.action_dial("+919811100001")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare, frozen_sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = make_app(frozen_sandbox, FrozenClock())
    assert snap_compare(app, terminal_size=SIZE, press=["question_mark"])
