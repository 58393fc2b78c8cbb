"""1 Live calls: the board of calls in progress, the raw event feed, and the screen pop.

The board shows one row per call uuid as it moves through the CTI events, with a
ticking duration; calls that just ended stay a few seconds (dimmed) so you see them
finish. The feed beside it is the stream as it came. When a call comes in to my agent
number, a panel pops with the caller's number, their previous calls and open tasks.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Static

from console.actions import CallerContext, describe_error
from console.connection import explain_stream
from console.look import generation, look
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.detail import DetailScreen
from console.state import CallRow, ScreenPop
from console.widgets.feed import EVENT_ROLES, FeedLog
from console.widgets.plain import plain, safe_text
from console.widgets.table import VimTable

BOARD_LIMIT = 1000
# Backpressure: after a redraw that cost `c` seconds (or a full rebuild), the board waits
# a few times that before the next one, so a flood far beyond what anyone can read never
# starves key presses; at ordinary rates (1,000 events/s and below) it is ~10 Hz.
COST_FACTOR = 6.0
REBUILD_HOLD_S = 0.5
MAX_HOLD_S = 1.0

# The feed's colours by event, with a ringing call in bold: it is what a board is read for.
STATE_STYLES = {**EVENT_ROLES, "AGENT_CALL": "bold warn", "CUSTOMER_CALL": "bold warn"}


def fmt_duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60:d}:{s % 60:02d}"


def board_cells(row: CallRow, now: float) -> tuple[Text | str, ...]:
    inbound = row.direction.lower().startswith("in")
    dim = "dim" if row.finished else ""
    side = "inbound" if inbound else "outbound"
    arrow = Text("in" if inbound else "out" if row.direction else "·", style=look(f"{dim} {side}"))
    state = Text(row.state_label, style=dim or look(STATE_STYLES.get(row.event, "")))
    customer = Text(row.customer or "—", style=dim)
    agent = Text((row.agent or "—") + (" ★" if row.mine else ""), style=dim or ("bold" if row.mine else ""))
    return (
        arrow,
        customer,
        agent,
        state,
        Text(fmt_duration(row.duration(now)), style=dim, justify="right"),
        Text(row.business_call_type or "", style="dim"),
        Text(row.uuid[:8], style="dim"),
    )


class PopPanel(Vertical):
    """Incoming call to me: who is calling, their previous calls, their open tasks."""

    DEFAULT_CSS = """
    PopPanel { display: none; height: auto; max-height: 12; }
    PopPanel.-open { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="pop-head")
        yield Static("", id="pop-body")

    def show_pop(self, pop: ScreenPop, context: CallerContext | None, error: str | None) -> None:
        head = Text()
        head.append(" ☎ INCOMING ", look("badge-ringing"))
        head.append(f"  {pop.customer or 'unknown number'}", "bold")
        head.append("  calling you", "")
        head.append("    c call back · x dismiss · enter details", "dim")
        self.query_one("#pop-head", Static).update(safe_text(head))
        body = Text()
        if error:
            body.append(f"could not load this caller's history: {error}", look("bad"))
        elif context is None:
            body.append("loading previous calls and open tasks …", "dim italic")
        else:
            body.append("previous calls: ", "bold")
            if not context.previous:
                body.append("none in the last 3 months", "dim")
            for rec in context.previous[:4]:
                body.append(f"\n  {rec}", "")
            body.append("\nopen tasks: ", "bold")
            if not context.tasks:
                body.append("none", "dim")
            for task in context.tasks[:3]:
                body.append(f"\n  {task}", "")
        self.query_one("#pop-body", Static).update(safe_text(body))
        self.add_class("-open")


class LiveScreen(ViewScreen):
    VIEW_TITLE = "Live"
    LIVE = True

    BINDINGS = [
        Binding("enter", "details", "details", id="live.details"),
        Binding("x", "dismiss_pop", "dismiss pop", id="live.dismiss_pop"),
        Binding("f", "toggle_feed", "feed", id="live.feed"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._seen_version = -1
        self._look = generation()
        self._last_second = -1
        self._hold_until = 0.0  # time.monotonic(): no board redraw before this
        self._pop: ScreenPop | None = None
        self._pop_context: CallerContext | None = None
        self._cells: dict[str, tuple[tuple[object, ...], tuple[Text | str, ...]]] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="live-main"):
            with Vertical(id="board-pane"):
                yield Label("", id="board-title", classes="pane-title")
                yield VimTable(
                    [("dir", "Dir", 3), ("customer", "Customer", 14), ("agent", "Agent", 16),
                     ("state", "State", 17), ("time", "Time", 6), ("type", "Type", 15), ("uuid", "Call", 8)],
                    id="board",
                    priorities={"uuid": 5, "type": 4, "dir": 3, "agent": 2, "time": 1},
                )
                yield PopPanel(id="pop")
            with Vertical(id="feed-pane"):
                yield Label("Raw events", id="feed-title", classes="pane-title")
                yield FeedLog(id="feed")

    def on_mount(self) -> None:
        self.query_one("#board", VimTable).focus()

    def focus_main(self) -> None:
        self.query_one("#board", VimTable).focus()

    def on_screen_resume(self) -> None:
        """Back on screen: the first redraw is not held back by the last one's cost (the
        base class's handler, run after this one, asks for that redraw)."""
        self._hold_until = 0.0

    # ---- redraw -------------------------------------------------------------------------

    def refresh_view(self, now: float) -> None:
        board = self.capp.state.board
        second = int(now)
        if generation() != self._look:
            # Another theme: every row and every feed line again, in its colours.
            self._look, self._seen_version = generation(), -1
            self.query_one("#feed", FeedLog).restart()
        if board.version == self._seen_version and second == self._last_second:
            return
        started = time.monotonic()
        if started < self._hold_until:
            return
        self._seen_version, self._last_second = board.version, second
        view = self.view
        rows = board.rows(view, limit=BOARD_LIMIT)
        table = self.query_one("#board", VimTable)
        rebuilds = table.rebuilds
        table.sync_rows([(r.uuid, self._row_cells(r, now)) for r in rows])
        board.drain_dirty()
        self._forget_cells(r.uuid for r in rows)
        in_progress = sum(1 for r in rows if not r.finished)
        who = "my calls" if view.mine_only else "everyone"
        title = f"Calls in progress: {in_progress}  ({who}"
        if view.text:
            title += f", filter “{view.text}”"
        title += f")   {board.events_total:,} events · {board.calls_total:,} calls seen"
        problem = explain_stream(self.capp.stream_status, self.capp.deps.settings)
        if problem and self.capp.stream_status.status != "connecting":
            title = f"⚠ {problem}   ({board.events_total:,} events so far)"
        self.query_one("#board-title", Label).update(plain(title))
        feed = self.query_one("#feed", FeedLog)
        feed.append_lines(board.feed_since(feed.last_seq))
        while board.pops:
            self._open_pop(board.pops.popleft())
        if self._pop is not None:
            popped = board.get(self._pop.uuid)
            if popped is None or popped.finished:
                # The caller hung up (or was answered elsewhere and ended): the pop's
                # keys would act on a call that is over.
                who = self._pop.customer or "unknown number"
                self.action_dismiss_pop()
                self.capp.notify(f"the call from {who} ended", title="☎", timeout=4)
        cost = time.monotonic() - started
        hold = cost * COST_FACTOR + (REBUILD_HOLD_S if table.rebuilds != rebuilds else 0.0)
        self._hold_until = started + min(hold, MAX_HOLD_S)

    def _row_cells(self, row: CallRow, now: float) -> tuple[Text | str, ...]:
        """The row's cells, built again only when what they show changed. Under a flood
        most of the thousand rows on the board are calls that just ended and sit unchanged;
        rebuilding their Text cells on every redraw was most of a redraw's cost, and the
        same cell objects let the table see at once that nothing changed."""
        shown = (row.event, row.ended is None, row.direction, row.customer, row.agent, row.mine,
                 row.business_call_type, int(row.duration(now)))
        cached = self._cells.get(row.uuid)
        if cached is not None and cached[0] == shown:
            return cached[1]
        cells = board_cells(row, now)
        self._cells[row.uuid] = (shown, cells)
        return cells

    def _forget_cells(self, keep: Iterable[str]) -> None:
        """Drop cached cells of rows that left the board (the cache stays as big as the board)."""
        if len(self._cells) > 2 * BOARD_LIMIT:
            self._cells = {key: self._cells[key] for key in keep if key in self._cells}

    # ---- screen pop -----------------------------------------------------------------------

    def _open_pop(self, pop: ScreenPop) -> None:
        self._pop, self._pop_context = pop, None
        self.query_one(PopPanel).show_pop(pop, None, None)
        self.capp.ring_for_me(pop.customer)
        if self.capp.screen is not self:
            self.capp.notify(f"Incoming call from {pop.customer or 'unknown'} (press 1)", title="☎ incoming", timeout=6)
        self._load_pop(pop)

    @work(group="pop", exclusive=True, exit_on_error=False)
    async def _load_pop(self, pop: ScreenPop) -> None:
        try:
            context = await self.capp.actions.caller_context(pop.customer)
            error = None
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            context, error = None, describe_error(exc)
        if self._pop is pop:
            self._pop_context = context
            self.query_one(PopPanel).show_pop(pop, context, error)

    def action_dismiss_pop(self) -> None:
        self._pop = None
        self.query_one(PopPanel).remove_class("-open")

    def close_panel(self) -> bool:
        if self._pop is not None:
            self.action_dismiss_pop()
            return True
        return False

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "dismiss_pop":
            return self._pop is not None
        return True

    # ---- actions ------------------------------------------------------------------------

    def selected_row(self) -> CallRow | None:
        key = self.query_one("#board", VimTable).selected_key
        return self.capp.state.board.get(key) if key else None

    def selected_number(self) -> str | None:
        if self._pop is not None:
            return self._pop.customer
        row = self.selected_row()
        return row.customer if row else None

    def action_details(self) -> None:
        """enter: the call the user is looking at: the pop's call while it is up, else the row."""
        row = self.capp.state.board.get(self._pop.uuid) if self._pop is not None else self.selected_row()
        if row is None:
            return
        self.capp.push_screen(DetailScreen.for_call_row(row, self.capp.clock()))

    def on_data_table_row_selected(self, event: VimTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_toggle_feed(self) -> None:
        pane = self.query_one("#feed-pane")
        pane.display = not pane.display

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Live: details of the selected call", "its CTI events, CDR and recording", self.action_details)
        yield ("Live: show / hide the raw event feed", "more room for the board", self.action_toggle_feed)
        if self._pop is not None:
            yield ("Live: dismiss the incoming-call panel", "", self.action_dismiss_pop)
