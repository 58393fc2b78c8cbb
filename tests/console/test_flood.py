"""A flood of live events: the console keeps answering keys and loses no call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from console.api.events import CallEvent, Cdr
from console.screens.agents import AgentsScreen
from console.screens.live import BOARD_LIMIT, LiveScreen
from console.widgets.table import VimTable
from tests.console.conftest import SIZE, until

LIFECYCLE = ("ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP")
WINDOW = 200  # calls in flight at once
MAX_CALLS = 8_000  # 48,000 items, within the board's history (10,000 calls)
BURST = 400  # items per loop turn: at most ~40,000 items/s, 40x the 1,000/s the console must absorb


def lifecycles(first_call: int) -> Iterator[Any]:
    """WINDOW interleaved call lifecycles (events, then CDRs) starting at call number `first_call`."""
    batch = range(first_call, first_call + WINDOW)
    for event in LIFECYCLE:
        for i in batch:
            yield CallEvent(event_type=event, uuid=f"flood-{i}", call_direction="Inbound",
                            customer_number=f"98{i:08d}", agent_number=f"97{i % 50:08d}",
                            knowlarity_number="+918047100100")
    for i in batch:
        yield Cdr(uuid=f"flood-{i}", call_type="Incoming", caller_id=f"98{i:08d}",
                  destination=f"97{i % 50:08d}", call_duration=30)


async def test_flood_keeps_the_ui_responsive_and_every_call_on_the_board(console_factory) -> None:  # type: ignore[no-untyped-def]
    go, done = asyncio.Event(), asyncio.Event()
    sent = {"items": 0, "calls": 0}

    async def flood(on_state: Any) -> AsyncIterator[Any]:
        """Bursts of events with barely a breath between them, then a quiet stream."""
        on_state(type("S", (), {"status": "live"})())
        await go.wait()
        while sent["calls"] < MAX_CALLS:
            for item in lifecycles(sent["calls"]):
                sent["items"] += 1
                yield item
                if sent["items"] % BURST == 0:
                    await asyncio.sleep(0.01)
            sent["calls"] += WINDOW
        done.set()
        await asyncio.Event().wait()

    app = console_factory(stream=False)
    app.deps.stream_factory = flood
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LiveScreen)
        go.set()
        await until(pilot, lambda: app.ingested > 5_000)
        answered = []
        for key, view in (("2", AgentsScreen), ("1", LiveScreen)):
            t0 = time.perf_counter()
            app.simulate_key(key)
            while not isinstance(app.screen, view) and time.perf_counter() - t0 < 10:
                await asyncio.sleep(0.002)
            answered.append(time.perf_counter() - t0)
            assert isinstance(app.screen, view)
        assert not done.is_set()  # the keys were answered while the flood was still coming
        await until(pilot, done.is_set, timeout=30)
        await until(pilot, lambda: app.ingested == sent["items"], timeout=30)
        await pilot.pause(0.3)
        board = app.state.board
        assert board.events_total == sent["items"] and board.calls_total == sent["calls"]
        assert sent["calls"] == MAX_CALLS <= board.history_size
        missing = [i for i in range(sent["calls"]) if f"flood-{i}" not in board]
        assert missing == []
        table = app.screen.query_one("#board", VimTable)
        assert table.row_count <= BOARD_LIMIT
        assert len(board.feed) <= (board.feed.maxlen or 0)
        print(f"flood: {sent['items']} items / {sent['calls']} calls; keys answered in {', '.join(f'{a * 1000:.0f}' for a in answered)} ms "
              f"mid-flood; table rebuilds {table.rebuilds}")
