"""5 Bot: every live bot call, its transcript as it grows, and a supervisor's controls.

Left, the calls (live first, then finished ones, which stay browsable). Right, the
selected call: caller and state (listening / thinking / speaking), a BARGE-IN flash when
the caller interrupts, the transcript (partial words dimmer), each turn's timings, and
the controls: transfer, hang up, say a line, listen, and talk (a test call to the bot with
this microphone as the caller, when the console knows the bot's URL). Data comes from the bot watcher
(in-process bus or `/monitor`) through state; commands go back through console.actions.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Static

from console.actions import ActionError
from console.connection import explain_bot
from console.form_models import BotHangup, BotSay, BotTransfer
from console.look import generation, look
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.forms import FormField, FormScreen
from console.state import BotCall
from console.widgets.meter import LevelMeter
from console.widgets.plain import plain, safe_text
from console.widgets.table import VimTable
from console.widgets.transcript import TranscriptView

BARGE_IN_FLASH_S = 1.5

STATE_STYLES = {  # console.look roles
    "listening": "badge-listening",
    "thinking": "badge-thinking",
    "speaking": "badge-speaking",
    "transferring": "badge-transferring",
    "ended": "bold badge-ended",
}


def fmt_secs(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def call_cells(call: BotCall, now: float) -> tuple[Text | str, ...]:
    flash = call.barge_in_at is not None and now - call.barge_in_at < BARGE_IN_FLASH_S and not call.finished
    turns = sum(1 for line in call.lines if line.speaker == "caller")
    return (
        Text(call.caller or "unknown", style="dim" if call.finished else "bold"),
        Text(f" {call.state} ", style=look(STATE_STYLES.get(call.state, ""))),
        Text(fmt_secs(call.duration(now)), justify="right", style="dim" if call.finished else ""),
        Text(str(turns), justify="right"),
        Text(("↯" + str(call.barge_ins)) if call.barge_ins else "", style=look("bold bad" if flash else "bad")),
        Text(("→ " + call.transferred_to) if call.transferred_to else (call.end_reason if call.finished else ""), style="dim"),
        Text(call.worker or "", style="dim"),
    )


def head_text(call: BotCall | None, now: float, listening: bool) -> Text:
    if call is None:
        return Text("No bot call selected. Calls appear here as soon as a caller reaches the bot.", style="dim italic")
    text = Text()
    text.append(f" {call.caller or 'unknown caller'} ", "bold")
    if call.virtual_number:
        text.append(f"→ {call.virtual_number} ", "dim")
    text.append(f" {call.state.upper()} ", look(STATE_STYLES.get(call.state, "reverse")))
    if call.worker:
        text.append(f" on {call.worker}", "dim")
    if call.finished:
        text.append(f" {call.end_reason}", "dim")
        text.append("  (ended: transfer, hang up and say are for live calls)", "dim italic")
    text.append(f"  {fmt_secs(call.duration(now))}", "")
    if call.barge_in_at is not None and now - call.barge_in_at < BARGE_IN_FLASH_S and not call.finished:
        text.append("  ")
        text.append(" ↯ BARGE-IN ", look("badge-alert"))
        if call.barge_in_ms is not None:
            text.append(f" killAudio in {call.barge_in_ms:.0f} ms", look("bad"))
    elif call.barge_ins:
        text.append(f"  {call.barge_ins} barge-in{'s' * (call.barge_ins != 1)}", look("bad"))
    if call.transferred_to and not call.finished:  # once ended, the end reason says it
        text.append(f"  transferred to {call.transferred_to}", look("other"))
    if listening:
        text.append("  ♪ LISTENING", look("bold good"))
    return text


def ms(value: float | None) -> Text:
    if value is None:
        return Text("—", style="dim", justify="right")
    return Text(f"{value:.0f}", justify="right")


class BotScreen(ViewScreen):
    VIEW_TITLE = "Bot"
    LIVE = True

    BINDINGS = [
        Binding("t", "transfer", "transfer", id="bot.transfer"),
        Binding("h", "hangup", "hang up", id="bot.hangup"),
        Binding("s", "say", "say a line", id="bot.say"),
        Binding("l", "listen", "listen", id="bot.listen"),
        Binding("T", "talk", "talk", id="bot.talk"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._seen: tuple[int, str, bool, int] | None = None
        self._selected_id: str | None = None
        self._follow = True              # jump to a new live call when the watched one ends
        self._turns_seen: tuple[str | None, int, int] = (None, -1, -1)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="bot-main"):
            with Vertical(id="bot-list-pane"):
                yield Label("Bot calls", id="bot-list-title", classes="pane-title")
                yield Static("", id="bot-fleet", classes="pane-title")
                yield VimTable(
                    [("caller", "Caller", 14), ("state", "State", 13), ("time", "Time", 5), ("turns", "Turns", 5),
                     ("barge", "Barge", 5), ("note", "Ended", 14), ("worker", "Worker", 12)],
                    id="bot-calls",
                    priorities={"worker": 5, "turns": 4, "barge": 3, "time": 2, "note": 1},
                )
            with Vertical(id="bot-detail-pane"):
                yield Static("", id="bot-head")
                yield TranscriptView(id="bot-transcript")
                yield LevelMeter("", id="bot-meter")
                yield Label("ms: STT final · LLM 1st token · 1st sentence · TTS 1st byte · 1st audio", classes="pane-title")
                yield VimTable(
                    [("turn", "Turn", 5), ("stt", "STT", 5), ("llm", "LLM", 5), ("sentence", "Sent.", 5),
                     ("tts", "TTS", 5), ("audio", "Audio", 5), ("total", "Total", 6), ("note", "", 11)],
                    id="bot-turns",
                    priorities={"note": 5, "sentence": 4, "audio": 3, "tts": 2, "llm": 1},
                    sortable=False,
                    cursor_type="none",
                    zebra_stripes=False,
                )

    def on_mount(self) -> None:
        self.focus_main()
        self.query_one("#bot-meter", LevelMeter).display = False

    def focus_main(self) -> None:
        self.query_one("#bot-calls", VimTable).focus()

    # ---- redraw -----------------------------------------------------------------------------

    def refresh_view(self, now: float) -> None:
        bot = self.capp.state.bot
        view = self.view
        table = self.query_one("#bot-calls", VimTable)
        calls = bot.rows(view)
        # Which worker holds a call matters only on a fleet (the header names it too).
        on_fleet = any(c.worker for c in calls)
        self.set_class(on_fleet, "-fleet")
        table.hide_columns(() if on_fleet else ("worker",))
        table.sync_rows([(c.call_id, call_cells(c, now)) for c in calls])
        selected = bot.get(self._selected_id) if self._selected_id else None
        if (self._follow and calls and not calls[0].finished and (selected is None or selected.finished)
                and calls[0] is not selected):
            # The call being watched ended (or none was): follow the newest live call.
            self._selected_id = calls[0].call_id
        elif self._selected_id is None or self._selected_id not in bot.calls:
            self._selected_id = table.selected_key
        if self._selected_id is not None:
            # One call at a time: the cursor, the panel and every key act on the same one.
            table.select_key(self._selected_id)
        call = bot.get(self._selected_id) if self._selected_id else None
        listening = self.capp.listen is not None and call is not None and self.capp.listen.call_id == call.call_id
        head = head_text(call, now, listening)
        problem = explain_bot(self.capp.bot_status) if self.capp.deps.bot is not None else None
        if call is None and problem:
            head = Text(problem, style="bold")  # not "calls appear here …" while nothing can arrive
        self.query_one("#bot-head", Static).update(safe_text(head))
        self.query_one("#bot-transcript", TranscriptView).show(call, now)
        meter = self.query_one("#bot-meter", LevelMeter)
        meter.display = listening
        if listening and self.capp.listen is not None:
            self.capp.listen.pump()
            meter.show(self.capp.listen.level_dbfs)
        self._show_turns(call)
        live = sum(1 for c in calls if not c.finished)
        title = f"Bot calls: {live} live · {len(calls) - live} finished"
        if bot.dropped:
            title += f" · {bot.dropped} events dropped (slow display)"
        if self.capp.deps.bot is None:
            title = "No bot connected (start with --bot ws://HOST:PORT/monitor, or run `kconsole demo`)"
        self.query_one("#bot-list-title", Label).update(plain(title))
        fleet = self.query_one("#bot-fleet", Static)
        fleet_line = bot.fleet_line(now)
        fleet.display = bool(fleet_line)
        fleet.update(Text(fleet_line, style=look("bold bad") if "LOST" in fleet_line else ""))

    def _show_turns(self, call: BotCall | None) -> None:
        key = (call.call_id if call else None, len(call.metrics) if call else 0, generation())
        if key == self._turns_seen:
            return
        self._turns_seen = key
        rows = []
        if call is not None:
            for m in call.metrics:
                if m.greeting_ms is not None and m.turn == 0:
                    rows.append((f"t{m.turn}", (Text("greet"), ms(None), ms(None), ms(None), ms(None),
                                                ms(m.greeting_ms), ms(m.total_ms), Text("greeting", style="dim"))))
                    continue
                rows.append((f"t{m.turn}-{len(rows)}", (
                    Text(str(m.turn)), ms(m.stt_final_ms), ms(m.llm_first_token_ms), ms(m.first_sentence_ms),
                    ms(m.tts_first_byte_ms), ms(m.first_audio_ms), ms(m.total_ms),
                    Text("interrupted", style=look("bad")) if m.interrupted else Text(""),
                )))
        table = self.query_one("#bot-turns", VimTable)
        table.sync_rows(rows)
        if rows:
            table.scroll_end(animate=False)

    def on_data_table_row_highlighted(self, event: VimTable.RowHighlighted) -> None:
        if event.data_table.id == "bot-calls" and event.row_key is not None:
            # Only the user moves the cursor with a message (VimTable syncs silently):
            # keep their call, and follow new ones only if it was live and later ends.
            self._selected_id = event.row_key.value
            call = self.capp.state.bot.get(event.row_key.value) if event.row_key.value is not None else None
            self._follow = call is not None and not call.finished
            self.refresh_bindings()
            self.capp.request_refresh()

    # ---- controls -------------------------------------------------------------------------

    def selected_call(self) -> BotCall | None:
        return self.capp.state.bot.get(self._selected_id) if self._selected_id else None

    def selected_number(self) -> str | None:
        call = self.selected_call()
        return call.caller if call else None

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("transfer", "hangup", "say"):
            call = self.selected_call()
            if call is None or self.capp.deps.bot is None:
                return False
            return None if call.finished else True   # an ended call: the keys show, greyed
        if action == "listen":
            call = self.selected_call()
            return (call is not None and not call.finished and self.capp.deps.bot is not None) or self.capp.listen is not None
        if action == "talk":
            return self.capp.deps.bot_voice is not None
        return True

    def action_transfer(self) -> None:
        call = self.selected_call()
        if call is None or call.finished:
            return

        async def submit(request: BotTransfer) -> str | None:
            try:
                message = await self.capp.actions.bot_transfer(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, timeout=3)
            return None

        self.capp.push_screen(FormScreen(
            f"Transfer {call.caller or 'the caller'} to a person",
            [FormField("destination", "Transfer to", placeholder="leave empty for the bot's own transfer number")],
            build=lambda values: BotTransfer.model_validate({**values, "call_id": call.call_id}),
            submit_label="Transfer", submit=submit,
        ))

    def action_hangup(self) -> None:
        call = self.selected_call()
        if call is None or call.finished:
            return

        async def submit(request: BotHangup) -> str | None:
            try:
                message = await self.capp.actions.bot_hangup(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, timeout=3)
            return None

        self.capp.push_screen(FormScreen(
            f"Hang up on {call.caller or 'the caller'}?", [], build=lambda _: BotHangup(call_id=call.call_id),
            submit_label="Hang up", submit=submit, note="The bot ends the call now.", danger=True,
        ))

    def action_say(self) -> None:
        call = self.selected_call()
        if call is None or call.finished:
            return

        async def submit(request: BotSay) -> str | None:
            try:
                message = await self.capp.actions.bot_say(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, timeout=3)
            return None

        self.capp.push_screen(FormScreen(
            f"Say a line to {call.caller or 'the caller'}",
            [FormField("text", "The bot says", placeholder="e.g. One moment please, I'm checking that.", required=True)],
            build=lambda values: BotSay.model_validate({**values, "call_id": call.call_id}),
            submit_label="Say it", submit=submit,
        ))

    def action_listen(self) -> None:
        call = self.selected_call()
        if self.capp.listen is not None and (call is None or self.capp.listen.call_id == call.call_id):
            self.capp.stop_listening()
            self.capp.notify("stopped listening", timeout=2)
            self.refresh_bindings()
            return
        if call is None or call.finished:
            return
        error = self.capp.start_listening(call.call_id, call.sample_rate)
        if error:
            self.capp.notify(f"can't play sound here: {error}", title="listen", severity="warning", timeout=8)
        else:
            self.capp.notify(f"listening to {call.caller or call.call_id} (l again to stop)", timeout=3)
        self.refresh_bindings()

    def action_talk(self) -> None:
        """T: call the bot from here, the microphone as the caller (T again hangs up)."""
        if self.capp.talk is not None:
            self.capp.stop_talking()
            self.capp.notify("hung up the test call", timeout=2)
            return
        error = self.capp.start_talking()
        if error:
            self.capp.notify(f"can't talk to the bot from here: {error}", title="talk", severity="warning", timeout=8)
        else:
            self.capp.notify("calling the bot: speak into the microphone (T again hangs up)", title="talk", timeout=4)
        self.refresh_bindings()

    def palette_commands(self) -> Iterable[PaletteCommand]:
        if self.capp.deps.bot_voice is not None:
            yield ("Bot: talk to the bot" if self.capp.talk is None else "Bot: hang up the test call",
                   "a test call with this microphone as the caller", self.action_talk)
        call = self.selected_call()
        if call is not None and not call.finished:
            yield ("Bot: transfer the selected call", "to a person (TRANSFER_NUMBER or a number)", self.action_transfer)
            yield ("Bot: hang up the selected call", "", self.action_hangup)
            yield ("Bot: say a line on the selected call", "the bot speaks your words", self.action_say)
            yield ("Bot: listen to the selected call", "caller and bot mixed on this speaker", self.action_listen)
        elif self.capp.listen is not None:
            yield ("Bot: stop listening", "", self.action_listen)

