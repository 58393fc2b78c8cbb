"""A small modal form: a few labelled fields, one submit button, errors in words.

Used for every "ask the user a few things" dialog (say a line, OTP call, new campaign,
add numbers, register a number, my agent number). When given `submit`, the form runs it
in a worker with the button disabled, so one press sends one request; a failure keeps
the form open with the server's message under it, a success closes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from console.actions import describe_error
from console.widgets.plain import plain

Values = dict[str, str]
Submit = Callable[[Values], Awaitable[str | None]]
"""Returns None on success or a message to show; may raise (shown via describe_error)."""


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    placeholder: str = ""
    value: str = ""
    required: bool = False
    choices: Sequence[tuple[str, str]] = field(default_factory=tuple)   # (label, value): a Select
    check: bool = False                                                  # a Checkbox ("true"/"false")


def read_fields(screen: Screen[Any], fields: Sequence[FormField]) -> Values:
    """Each field's widget (`#field-NAME`) as text: selects by value, checkboxes "true"/"false"."""
    out: Values = {}
    for f in fields:
        widget = screen.query_one(f"#field-{f.name}")
        if isinstance(widget, Select):
            out[f.name] = "" if widget.value is Select.BLANK else str(widget.value)
        elif isinstance(widget, Checkbox):
            out[f.name] = "true" if widget.value else "false"
        elif isinstance(widget, Input):
            out[f.name] = widget.value.strip()
    return out


def focus_first_empty(screen: Screen[Any], fields: Sequence[FormField]) -> None:
    """Focus the first empty text field, else the submit button (`#form-submit`)."""
    for f in fields:
        widget = screen.query_one(f"#field-{f.name}")
        if isinstance(widget, Input) and not widget.value:
            widget.focus()
            return
    screen.query_one("#form-submit", Button).focus()


class FormScreen(ModalScreen[Values | None]):
    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "submit", id="form.submit"),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[FormField],
        *,
        submit_label: str = "OK",
        submit: Submit | None = None,
        note: str = "",
        danger: bool = False,
    ) -> None:
        """`danger`: the submit button does something that cannot be taken back (stop a
        campaign, hang up, disable notifications, quit with calls in progress), so it is
        drawn as a warning and the focus starts on Cancel: enter alone does nothing harmful."""
        super().__init__()
        self.danger = danger
        self.title_text = title
        self.fields = list(fields)
        self.submit_label = submit_label
        self.submit_fn = submit
        self.note = note
        self.in_flight = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form-dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            if self.note:
                yield Static(plain(self.note), classes="dialog-note")
            for f in self.fields:
                with Horizontal(classes="form-row"):
                    yield Label(plain(f.label + (" *" if f.required else "")), classes="form-label")
                    if f.choices:
                        yield Select([(plain(label), value) for label, value in f.choices],
                                     value=f.value or f.choices[0][1], allow_blank=False,
                                     id=f"field-{f.name}", classes="form-input")
                    elif f.check:
                        yield Checkbox("", value=f.value == "true", id=f"field-{f.name}", classes="form-input")
                    else:
                        yield Input(value=f.value, placeholder=f.placeholder, id=f"field-{f.name}", classes="form-input")
            yield Static("", id="form-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.submit_label, variant="error" if self.danger else "primary", id="form-submit")
                yield Button("Cancel", id="form-cancel")

    def on_mount(self) -> None:
        if self.danger:
            self.query_one("#form-cancel", Button).focus()
            return
        focus_first_empty(self, self.fields)

    def values(self) -> Values:
        return read_fields(self, self.fields)

    def show_error(self, message: str) -> None:
        self.query_one("#form-error", Static).update(plain(message))

    @on(Button.Pressed, "#form-cancel")
    def action_cancel(self) -> None:
        if not self.in_flight:
            self.dismiss(None)

    @on(Button.Pressed, "#form-submit")
    @on(Input.Submitted)
    def action_submit(self) -> None:
        if self.in_flight:
            return
        values = self.values()
        missing = [f.label for f in self.fields if f.required and not values.get(f.name)]
        if missing:
            self.show_error(f"please fill in: {', '.join(missing)}")
            return
        if self.submit_fn is None:
            self.dismiss(values)
            return
        self.in_flight = True
        self.query_one("#form-submit", Button).disabled = True
        self.show_error("working …")
        self._run_submit(values)

    @work(exclusive=True, exit_on_error=False)
    async def _run_submit(self, values: Values) -> None:
        assert self.submit_fn is not None
        try:
            error = await self.submit_fn(values)
        except Exception as exc:  # noqa: BLE001 - every failure is shown in words
            error = describe_error(exc)
        self.in_flight = False
        if error:
            self.query_one("#form-submit", Button).disabled = False
            self.show_error(error)
            return
        self.dismiss(values)
