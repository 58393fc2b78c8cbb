"""A detail dialog: the fields of one thing (a call, an agent, a task, a campaign).

Built from plain (label, value) pairs so any view can open one; values that look like
credentials never get here (console.actions filters them out). `c` calls the number
the dialog is about, `r` opens a recording link, esc closes.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from console.display import time_format, when
from console.look import look
from console.state import EVENT_LABELS, CallRow
from console.widgets.plain import plain, safe_text

Field = tuple[str, str]


class DetailScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "close", id="detail.close"),
        Binding("c", "call", "call this customer", id="detail.call"),
        Binding("r", "open_recording", "recording", id="detail.recording"),
        Binding("y", "copy", "copy number/link", id="detail.copy"),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[Field],
        *,
        number: str | None = None,
        recording: str | None = None,
        note: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.fields = list(fields)
        self.number = number
        self.recording = recording
        self.note = note
        self.no_recording_reason = ""  # why `r` has nothing to open, in words

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box", classes="dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            with VerticalScroll(id="detail-scroll"):
                yield Static(safe_text(self._body()), id="detail-body")
            yield Footer()

    def _body(self) -> Text:
        text = Text()
        width = max((len(label) for label, _ in self.fields), default=8)
        for label, value in self.fields:
            text.append(f"{label:>{width}}  ", look("bold label"))
            text.append(f"{value}\n")
        if self.recording:
            text.append(f"{'recording':>{width}}  ", look("bold label"))
            # A style built from text would parse it ("link x y" fails): the URL goes in as data.
            text.append(self.recording + "\n", Style(underline=True, link=self.recording))
        if self.note:
            text.append("\n" + self.note, "dim")
        return text

    def update_fields(self, fields: Sequence[Field], *, recording: str | None = None, note: str | None = None) -> None:
        self.fields = list(fields)
        if recording:
            self.recording = recording
        if note is not None:
            self.note = note
        self.query_one("#detail-body", Static).update(safe_text(self._body()))
        self.refresh_bindings()

    def selected_number(self) -> str | None:
        return self.number

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "call":
            return bool(self.number)
        if action == "copy":
            return bool(self.number or self.recording)
        return True

    def action_call(self) -> None:
        """c: dial the customer this dialog is about (not whatever row is under a cursor)."""
        if self.number:
            self.app.action_dial(self.number)  # type: ignore[attr-defined]

    def action_open_recording(self) -> None:
        if self.recording:
            self.app.open_url(self.recording)
            self.app.notify(f"opening {self.recording}", timeout=3)
            return
        self.app.notify(self.no_recording_reason or "this call has no recording", title="recording", timeout=5)

    def action_copy(self) -> None:
        """y: the recording link, else the number, to the clipboard (OSC 52: works over ssh and tmux)."""
        value = self.recording or self.number
        if value:
            self.app.copy_to_clipboard(value)
            self.app.notify(f"copied {value}", timeout=3)

    def action_close(self) -> None:
        self.dismiss(None)

    @classmethod
    def for_call_row(cls, row: CallRow, now: float) -> DetailScreen:
        started = f"{when(row.started, seconds=True)} {time_format().label()}"
        fields: list[Field] = [
            ("call", row.uuid),
            ("direction", row.direction or "—"),
            ("customer", row.customer or "—"),
            ("agent", (row.agent or "—") + ("  (me)" if row.mine else "")),
            ("SR number", row.knumber or "—"),
            ("state", EVENT_LABELS.get(row.event, row.event)),
            ("first seen", started),
            ("duration", f"{row.duration(now):.0f} s" + (" (CDR)" if row.cdr_duration is not None else "")),
            ("live type", row.cti_type or "—"),
            ("CDR type", row.cdr_type or "—"),
            ("events", " → ".join(row.events) or "—"),
        ]
        if row.backfilled:
            fields.append(("note", "rebuilt from the call log after a stream gap"))
        screen = cls(f"Call {row.uuid[:8]}", fields, number=row.customer, recording=row.recording)
        if not row.recording:
            screen.no_recording_reason = (
                "no recording yet: Knowlarity sends the link with the call's CDR when it ends"
                if not row.finished else "no recording for this call (not recorded, or not answered)")
        return screen
