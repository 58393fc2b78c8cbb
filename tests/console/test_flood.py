"""A flood of live events: the console keeps answering keys and loses no call.

The flood is the hardening issue's load (10,000 events/s offered, interleaved call
lifecycles) fed to the real app; the number keys walk every view while it runs. Each key
must bring up its own view, painted (a frame of that screen reaches the driver), and once
the flood is over every event and every call must be on the board. How fast the switches
are is a benchmark (bench/fig_console.py, table D), not a timed assertion here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from console.api.events import CallEvent, Cdr
from console.app import VIEWS
from console.screens.live import BOARD_LIMIT, LiveScreen
from console.widgets.badge import TopBar
from console.widgets.table import VimTable
from tests.console.conftest import SIZE, until

LIFECYCLE = ("ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP")
WINDOW = 200  # calls in flight at once
MAX_CALLS = 9_000  # at most 54,000 items, within the board's history (10,000 calls)
BURST = 100  # items per 10 ms: at most 10,000 items/s, the flood
WALK = "2345678912131"  # every view (first visits), then back and forth through Live


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


async def test_view_switches_under_a_flood_show_the_right_view_and_lose_no_call(console_factory) -> None:  # type: ignore[no-untyped-def]
    go, walked, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    sent = {"items": 0, "calls": 0}

    async def flood(on_state: Any) -> AsyncIterator[Any]:
        """Call lifecycles at up to 10,000 items/s until the keys are done, then a quiet stream."""
        on_state(type("S", (), {"status": "live"})())
        await go.wait()
        while sent["calls"] < MAX_CALLS and not walked.is_set():
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
    painted: list[Any] = []
    display = app._display

    def record_frame(screen: Any, renderable: Any) -> None:
        if renderable is not None and not app._batch_count:  # written, not held back by a batch
            painted.append(screen)
        display(screen, renderable)

    app._display = record_frame  # type: ignore[method-assign]
    views = {key: (title, cls) for _, key, title, cls in VIEWS}
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LiveScreen)
        go.set()
        await until(pilot, lambda: app.ingested > 5_000, timeout=30)
        answered = []
        for key in WALK:
            title, view = views[key]
            mark = len(painted)
            t0 = time.perf_counter()
            app.simulate_key(key)
            await until(pilot, lambda v=view, m=mark: isinstance(app.screen, v)
                        and any(s is app.screen for s in painted[m:]), timeout=30)
            answered.append(time.perf_counter() - t0)
            assert not done.is_set(), "the flood ended before the keys did: the switch was not under load"
            bar = str(app.screen.query_one(TopBar).render())
            assert f" {key} {title} " in bar, bar  # its own tab is the current one
        # Back on Live: the board is filled from state, not left as it was when hidden.
        await until(pilot, lambda: f"{app.state.board.events_total:,} events" in
                    str(app.screen.query_one("#board-title").render()), timeout=30)
        walked.set()
        await until(pilot, done.is_set, timeout=30)
        await until(pilot, lambda: app.ingested == sent["items"], timeout=30)
        await pilot.pause(0.3)
        board = app.state.board
        assert board.events_total == sent["items"] and board.calls_total == sent["calls"]
        assert sent["calls"] <= board.history_size
        missing = [i for i in range(sent["calls"]) if f"flood-{i}" not in board]
        assert missing == []
        table = app.screen.query_one("#board", VimTable)
        assert table.row_count <= BOARD_LIMIT
        assert len(board.feed) <= (board.feed.maxlen or 0)
        print(f"flood: {sent['items']} items / {sent['calls']} calls; views painted "
              f"{', '.join(f'{k}:{a * 1000:.0f}' for k, a in zip(WALK, answered, strict=True))} ms mid-flood; "
              f"table rebuilds {table.rebuilds}")
