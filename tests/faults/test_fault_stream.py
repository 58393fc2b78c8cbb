"""The live stream drops and comes back: the console's board catches up from the call log,
and no call shows twice.

The whole console runs (ConsoleApp, headless) against the real sandbox; the sandbox cuts
every stream connection (`drop_stream_subscribers`, as a proxy or a network blip would), two
calls start *and end* while the console is disconnected, and the stream comes back on its
own. What a supervisor must then see: both calls on the board (filled in from the call log,
marked backfilled), the call that ended before the drop not repeated by that backfill, one
row per call in the Live view's table, and the stream badge live again.
"""

from __future__ import annotations

from typing import Any

from console.api.backoff import Backoff
from console.api.stream import LiveStream
from console.app import ConsoleDeps, build_app
from console.screens.live import LiveScreen
from console.widgets.table import VimTable
from sandbox.server import SandboxServer
from tests.faults.faults_support import console_settings, eventually, fast_client

SIZE = (140, 45)


async def test_stream_drop_is_filled_from_the_call_log_without_duplicates(sandbox: SandboxServer) -> None:
    settings = console_settings(sandbox.base_url)
    streams: list[LiveStream] = []
    states: list[str] = []

    async with fast_client(sandbox.base_url) as client:

        def factory(on_state: Any) -> LiveStream:
            def seen(state: Any) -> None:
                states.append(state.status)
                on_state(state)

            stream = LiveStream(settings.stream_url.replace("{sr_api_key}", "sandbox-sr-key"), client=client,
                                on_state=seen, backoff=Backoff(base=0.4, cap=0.4, jitter=0.0))
            streams.append(stream)
            return stream

        app = build_app(ConsoleDeps(client=client, settings=settings, stream_factory=factory, source="sandbox"))
        async with app.run_test(size=SIZE) as pilot:
            board = app.state.board
            await eventually(lambda: app.stream_status.status == "live", what="stream live")
            before = sandbox.place_inbound_call()
            await eventually(lambda: (row := board.get(before)) is not None and row.event == "CDR",
                             what="the first call's CDR")

            assert sandbox.drop_stream_subscribers() >= 1
            await eventually(lambda: "retrying" in states, what="the console noticing the drop")
            during = [sandbox.place_inbound_call(), sandbox.place_inbound_call(customer_number="+919812345678")]
            await eventually(lambda: all(u in board for u in during), timeout=8, what="the gap filled")
            after = sandbox.place_inbound_call()
            await eventually(lambda: (row := board.get(after)) is not None and row.event == "CDR",
                             what="a call after the reconnect")
            await pilot.pause(0.3)  # a refresh tick draws the table

            assert app.stream_status.status == "live"
            for uuid in during:
                row = board.get(uuid)
                assert row is not None and row.backfilled and row.event == "CDR"
            assert not board.get(before).backfilled and not board.get(after).backfilled  # type: ignore[union-attr]
            # no duplicates: one row per call, and the backfill did not replay the first call's CDR
            assert board.calls_total == 4
            for uuid in (before, *during, after):
                assert board.get(uuid).events.count("CDR") == 1  # type: ignore[union-attr]
            cdr_lines = [line.uuid for line in board.feed if line.kind == "CDR"]
            assert sorted(cdr_lines) == sorted({before, *during, after})
            assert streams[-1].stats.backfilled >= 2
            screen = app.screen
            assert isinstance(screen, LiveScreen)
            keys = screen.query_one("#board", VimTable).row_keys()
            assert len(keys) == len(set(keys))
            assert set(during) <= set(keys)
