"""The console's one way of asking the user a few things: a form that makes a typed request.

Every dialog that takes input is a `FormScreen[T]`: labelled fields (`FormField`), a `build`
that turns what was typed into the typed request `T` (a pydantic model from
`console.form_models`, which checks each value as it enters: phone numbers, choices,
times), and an optional `submit` that sends it. A field that does not read is shown in the
dialog in words, next to nothing sent; with `confirm`, the first press shows what will
happen and only a second press on the same, unchanged request sends it. `submit` runs in a
worker with the button disabled, so one press sends one request; a failure keeps the dialog
open with the server's message under it, a success closes it with the request as its result.

This small form (say a line, OTP call, add numbers, register a number, my agent number,
yes/no questions via `ConfirmScreen`) draws one tall row per field; `RequestForm` is the
same form drawn compact and scrolling, for the long dialogs (new campaign, buy a number).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from console.actions import describe_error
from console.widgets.plain import plain

T = TypeVar("T")
Values = dict[str, str]
"""What the widgets hold, by field name: text, a select's value, a checkbox's "true"/"false"."""


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    placeholder: str = ""
    value: str = ""
    required: bool = False
    choices: Sequence[tuple[str, str]] = field(default_factory=tuple)   # (label, value): a Select
    check: bool = False                                                  # a Checkbox ("true"/"false")


Row = FormField | tuple[FormField, ...]
"""One field per line; a tuple puts checkboxes side by side (the weekdays)."""


@dataclass(frozen=True)
class Confirmed:
    """The typed answer of a yes/no dialog: the user said yes."""


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


def describe_invalid(exc: BaseException, fields: Sequence[FormField]) -> str:
    """Why what was typed is not a request, naming fields by the labels the dialog shows."""
    if not isinstance(exc, ValidationError):
        return describe_error(exc)
    labels = {f.name: f.label for f in fields}
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        where = labels.get(loc[0], ".".join(loc)) if loc else ""
        parts.append(f"{where}: {message}" if where and not message.lower().startswith(where.lower()) else message)
    return describe_error(ValueError("; ".join(parts) or "invalid input"))


class FormScreen(ModalScreen[T | None], Generic[T]):
    """Fields -> `build` -> a typed request -> `submit` (optional) -> closed with the request."""

    # The fields scroll (tab brings the focused one into view) and the title, the error line
    # and the buttons always show: on a short terminal (80x24) a six-field dialog no longer
    # pushes its buttons and its error below the screen.
    DEFAULT_CSS = """
    FormScreen .form-fields { height: auto; }
    FormScreen.-short .form-fields { max-height: 40vh; }
    """
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "submit", id="form.submit"),
    ]

    def __init__(
        self,
        title: str,
        rows: Sequence[Row],
        *,
        build: Callable[[Values], T],
        submit: Callable[[T], Awaitable[str | None]] | None = None,
        submit_label: str = "OK",
        note: str = "",
        danger: bool = False,
        confirm: Callable[[T], str] | None = None,
    ) -> None:
        """`build` may raise (a pydantic ValidationError or a ValueError in words): shown in the
        dialog. `submit` returns None on success or a message to show; it may raise too.
        `danger`: the submit button does something that cannot be taken back (stop a
        campaign, hang up, disable notifications, quit with calls in progress), so it is
        drawn as a warning and the focus starts on Cancel: enter alone does nothing harmful."""
        super().__init__()
        self.title_text = title
        self.rows = list(rows)
        self.build = build
        self.submit_fn = submit
        self.submit_label = submit_label
        self.note = note
        self.danger = danger
        self.confirm = confirm
        self.in_flight = False
        self.requests_sent = 0
        self._confirming: tuple[Values, T] | None = None

    @property
    def fields(self) -> list[FormField]:
        out: list[FormField] = []
        for row in self.rows:
            out.extend(row if isinstance(row, tuple) else (row,))
        return out

    def choices(self, name: str) -> list[str]:
        """The values the picker `name` offers, "none" ("") left out: what the user can choose."""
        return [value for f in self.fields if f.name == name for _, value in f.choices if value != ""]

    # ---- drawing (RequestForm draws the same fields compact) ---------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form-dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            if self.note:
                yield Static(plain(self.note), classes="dialog-note")
            with VerticalScroll(classes="form-fields"):
                for f in self.fields:
                    with Horizontal(classes="form-row"):
                        yield Label(plain(f.label + (" *" if f.required else "")), classes="form-label")
                        if f.choices:
                            values = [v for _, v in f.choices]
                            yield Select([(plain(label), value) for label, value in f.choices],
                                         value=f.value if f.value in values else values[0], allow_blank=False,
                                         id=f"field-{f.name}", classes="form-input")
                        elif f.check:
                            yield Checkbox("", value=f.value == "true", id=f"field-{f.name}", classes="form-input")
                        else:
                            yield Input(value=f.value, placeholder=f.placeholder, id=f"field-{f.name}",
                                        classes="form-input")
            yield Static("", id="form-error", classes="form-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.submit_label, variant="error" if self.danger else "primary", id="form-submit")
                yield Button("Cancel", id="form-cancel")

    def on_mount(self) -> None:
        if self.danger:
            self.query_one("#form-cancel", Button).focus()
            return
        focus_first_empty(self, self.fields)

    # ---- reading, checking, sending ----------------------------------------------------------

    def values(self) -> Values:
        return read_fields(self, self.fields)

    def request(self) -> T:
        """What the fields say now, as the typed request (raises when a field does not read)."""
        return self.build(self.values())

    def show_error(self, message: str) -> None:
        self.query_one("#form-error", Static).update(plain(message))

    def _set_label(self, label: str) -> None:
        self.query_one("#form-submit", Button).label = label

    def on_input_changed(self, event: Input.Changed) -> None:
        self._unconfirm()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._unconfirm()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._unconfirm()

    def _unconfirm(self) -> None:
        """A field changed after the confirmation was shown: it no longer stands."""
        if self._confirming is not None and not self.in_flight and self.values() != self._confirming[0]:
            self._confirming = None
            self._set_label(self.submit_label)
            self.show_error("")

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
        if self._confirming is not None and self._confirming[0] == values:
            request = self._confirming[1]
        else:
            try:
                request = self.build(values)
            except Exception as exc:  # noqa: BLE001 - a field that does not read, in words
                self._confirming = None
                self.show_error(describe_invalid(exc, self.fields))
                return
            if self.confirm is not None:
                self._confirming = (values, request)
                self.show_error(self.confirm(request))
                self._set_label(f"Confirm: {self.submit_label}")
                return
        if self.submit_fn is None:
            self.dismiss(request)
            return
        self.in_flight = True
        self.query_one("#form-submit", Button).disabled = True
        self.show_error("working …")
        self.requests_sent += 1
        self._run_submit(request)

    @work(exclusive=True, exit_on_error=False)
    async def _run_submit(self, request: T) -> None:
        assert self.submit_fn is not None
        try:
            error = await self.submit_fn(request)
        except Exception as exc:  # noqa: BLE001 - every failure is shown in words
            error = describe_error(exc)
        self.in_flight = False
        if error:
            self._confirming = None
            self._set_label(self.submit_label)
            self.query_one("#form-submit", Button).disabled = False
            self.show_error(error)
            return
        self.dismiss(request)


class ConfirmScreen(FormScreen[Confirmed]):
    """A yes/no question (no fields): `submit` runs on yes; closes with `Confirmed()`."""

    def __init__(self, title: str, *, submit_label: str, submit: Callable[[], Awaitable[str | None]] | None = None,
                 note: str = "", danger: bool = False) -> None:
        async def on_yes(_: Confirmed) -> str | None:
            return await submit() if submit is not None else None

        super().__init__(title, [], build=lambda _: Confirmed(), submit=on_yes if submit is not None else None,
                         submit_label=submit_label, note=note, danger=danger)
