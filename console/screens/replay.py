"""The Bot view on recorded calls: the same calls list, transcript and turn timings,
plus a timeline strip, a transport line and the keys to move through the call.

Everything the Bot view draws comes from `state.bot` at `now`; in a replay both come
from `console.replay_source.ReplaySource`, so this screen only adds the replay's own
widgets and keys and hides the supervisor controls (a recording cannot be transferred).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from console.form_models import JumpTo
from console.look import generation, look
from console.screens.base import PaletteCommand
from console.screens.bot import BotScreen
from console.screens.forms import FormField, FormScreen
from console.widgets.badge import BarInfo, TopBar
from console.widgets.plain import plain
from console.widgets.table import VimTable
from console.widgets.timeline import TimelineStrip, clock
from voice.replay.summary import LEVEL_STEP_S

if TYPE_CHECKING:
    from console.replay_source import ReplaySource

class ReplayScreen(BotScreen):
    VIEW_TITLE = "Replay"
    LIVE = False

    BINDINGS = [
        Binding("space", "toggle_play", "play/pause", id="replay.play"),
        Binding("full_stop", "step(1)", "step", id="replay.step"),
        Binding("comma", "step(-1)", "step back", show=False, id="replay.back"),
        Binding("right_square_bracket", "jump(5)", "+5 s", id="replay.forward"),
        Binding("left_square_bracket", "jump(-5)", "-5 s", id="replay.rewind"),
        Binding("0", "restart", "start", show=False, id="replay.start"),
        Binding("colon", "jump_to", "jump to", id="replay.jump"),
        Binding("plus,equals_sign", "faster", "faster", id="replay.faster"),
        Binding("minus", "slower", "slower", id="replay.slower"),
        Binding("a", "audio", "audio", id="replay.audio"),
    ]

    @property
    def source(self) -> ReplaySource:
        return self.capp.replay  # type: ignore[attr-defined]

    DEFAULT_CSS = """
    #replay-missing { height: auto; max-height: 3; }
    #replay-transport { height: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._drawn: dict[str, object] = {}

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Static("", id="replay-missing")
        yield TimelineStrip(id="replay-timeline")
        yield Static("", id="replay-transport")

    def on_mount(self) -> None:
        # (Textual calls the Bot view's on_mount too.) The live view's call list is 72
        # columns; a replay has one call to watch, so its
        # transcript gets the room on a narrow terminal.
        pane = self.query_one("#bot-list-pane")
        pane.styles.width = "38%"
        pane.styles.max_width = 72

    def _changed(self, key: str, value: object) -> bool:
        """Redraw a widget only when what it shows changed (an update costs a layout pass)."""
        if self._drawn.get(key) == value:
            return False
        self._drawn[key] = value
        return True

    def show_bar(self, info: BarInfo) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" kconsole ", look("badge-brand"))
        text.append("  REPLAY ", "bold reverse")
        text.append(f"  {info.source}", "dim")
        self.query_one(TopBar).update(text)

    # ---- redraw -----------------------------------------------------------------------------

    def refresh_view(self, now: float) -> None:
        super().refresh_view(now)
        src = self.source
        call = src.current
        n = len(src.calls)
        title = f"Recorded calls: {n} · replaying {call.summary.caller or call.key}"
        self.query_one("#bot-list-title", Label).update(plain(title))
        if self._changed("missing", (call.key, generation())):
            missing = self.query_one("#replay-missing", Static)
            missing.display = bool(call.rec.missing)
            missing.update(Text("missing: " + " · ".join(call.rec.missing), style=look("warn")))
        pos = src.cursor.position
        strip = self.query_one("#replay-timeline", TimelineStrip)
        if self._changed("timeline", (call.key, round(pos, 1), strip.size.width, generation())):
            strip.show(call.caller_levels, call.bot_levels, step_s=LEVEL_STEP_S, duration=call.rec.duration_s,
                       position=pos, cuts=call.cuts)
        transport = self.transport_text(pos)
        if self._changed("transport", (transport.plain, generation())):
            self.query_one("#replay-transport", Static).update(transport)

    def transport_text(self, pos: float) -> Text:
        src = self.source
        cur = src.cursor
        text = Text(no_wrap=True, overflow="ellipsis")
        if cur.playing:
            text.append(" ▶ PLAYING ", look("badge-speaking"))
        elif cur.at_end:
            text.append(" ■ END ", look("bold badge-ended"))
        else:
            text.append(" ❚❚ PAUSED ", look("badge-paused"))
        text.append(f" {clock(pos)} / {clock(cur.duration)}  ", "bold")
        text.append(f"{cur.speed:g}x", look("bold warn"))
        if cur.at_end:
            text.append(f"  outcome: {src.current.summary.outcome}", look("other"))
        text.append(f"  audio: {src.audio_side}", "")
        if src.audio_note:
            text.append(f" ({src.audio_note})", "dim")
        return text

    # ---- which call -------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: VimTable.RowHighlighted) -> None:
        if event.data_table.id == "bot-calls" and event.row_key is not None and event.row_key.value:
            self.source.select(event.row_key.value)
        super().on_data_table_row_highlighted(event)

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("transfer", "hangup", "say", "listen"):
            return False  # a recording has no live call to act on
        return True

    def palette_commands(self) -> Iterator[PaletteCommand]:
        yield ("Replay: play / pause", "space", self.action_toggle_play)
        yield ("Replay: restart the call", "0", self.action_restart)
        yield ("Replay: jump to a time", ":", self.action_jump_to)
        yield ("Replay: audio (mixed / caller / bot / off)", "a", self.action_audio)

    # ---- transport ---------------------------------------------------------------------------

    def _redraw(self) -> None:
        self.capp.request_refresh()

    def action_toggle_play(self) -> None:
        self.source.toggle()
        self._redraw()

    def action_step(self, direction: int) -> None:
        self.source.step(direction)
        self._redraw()

    def action_jump(self, seconds: float) -> None:
        self.source.jump(seconds)
        self._redraw()

    def action_restart(self) -> None:
        self.source.seek(0.0)
        self._redraw()

    def action_faster(self) -> None:
        self.source.faster()
        self._redraw()

    def action_slower(self) -> None:
        self.source.slower()
        self._redraw()

    def action_audio(self) -> None:
        side = self.source.cycle_audio()
        self.capp.notify(f"audio: {side}", timeout=2)
        self._redraw()

    def action_jump_to(self) -> None:
        async def submit(request: JumpTo) -> str | None:
            self.source.seek(request.at)
            self._redraw()
            return None

        self.capp.push_screen(FormScreen(
            "Jump to", [FormField("at", "Time", placeholder="1:15 or 75 (seconds)", required=True)],
            build=JumpTo.model_validate, submit_label="Jump", submit=submit,
        ))
