"""A form that produces a typed request, checks it, asks once, and sends it once.

The long dialogs (new campaign, new order, buy a number, upload a phonebook) hold a dozen
fields or more, so this form is compact (one line per field) and scrolls. What was typed
goes through `build` (a `console.form_models` model's `to_request`) into the typed request
the client sends; a field that does not read is shown in words and nothing is sent. With
`confirm`, the first press shows what will happen ("Buy +91… for plan 407890 until …") and
only a second press on the same, unchanged request sends it; the button is disabled while
it is in flight, so one confirmation is one request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from console.actions import describe_error
from console.screens.forms import FormField, focus_first_empty, read_fields
from console.widgets.plain import plain

T = TypeVar("T")
Values = dict[str, str]
Row = FormField | tuple[FormField, ...]
"""One field per line; a tuple puts checkboxes side by side (the weekdays)."""


class RequestForm(ModalScreen[T | None], Generic[T]):
    DEFAULT_CSS = """
    RequestForm .request-dialog { width: 96; max-width: 100%; height: auto; max-height: 96%; }
    RequestForm .request-fields { height: auto; max-height: 45vh; }
    RequestForm .request-row { height: 1; margin-bottom: 0; }
    RequestForm .request-row.-check { height: 1; }
    RequestForm .request-label { width: 20; padding: 0 1 0 0; text-align: right; color: $text-muted; }
    RequestForm .request-input { width: 1fr; }
    RequestForm .request-row Checkbox { width: auto; margin-right: 0; }
    RequestForm .request-error { height: auto; min-height: 1; max-height: 8; color: $warning; padding: 0 1; }
    RequestForm .request-buttons { height: 1; align-horizontal: right; margin-top: 1; }
    RequestForm .request-buttons Button { margin-left: 1; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "cancel", id="request.cancel"),
        Binding("ctrl+s", "submit", "submit", id="request.submit"),
    ]

    def __init__(
        self,
        title: str,
        rows: Sequence[Row],
        *,
        build: Callable[[Values], T],
        submit: Callable[[T], Awaitable[str | None]],
        submit_label: str = "OK",
        note: str = "",
        confirm: Callable[[T], str] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.rows = list(rows)
        self.build = build
        self.submit_fn = submit
        self.submit_label = submit_label
        self.note = note
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

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog request-dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            if self.note:
                yield Static(plain(self.note), classes="dialog-note")
            with VerticalScroll(classes="request-fields"):
                for row in self.rows:
                    if isinstance(row, tuple):
                        with Horizontal(classes="request-row -check"):
                            yield Label(plain(row[0].placeholder or ""), classes="request-label")
                            for f in row:
                                yield Checkbox(plain(f.label), value=f.value == "true", id=f"field-{f.name}", compact=True)
                        continue
                    with Horizontal(classes="request-row"):
                        yield Label(plain(row.label + (" *" if row.required else "")), classes="request-label")
                        if row.choices:
                            values = [v for _, v in row.choices]
                            yield Select([(plain(label), value) for label, value in row.choices],
                                         value=row.value if row.value in values else values[0],
                                         allow_blank=False, id=f"field-{row.name}", classes="request-input",
                                         compact=True)
                        elif row.check:
                            yield Checkbox("", value=row.value == "true", id=f"field-{row.name}", compact=True)
                        else:
                            yield Input(value=row.value, placeholder=row.placeholder, id=f"field-{row.name}",
                                        classes="request-input", compact=True)
            yield Static("", id="form-error", classes="request-error")
            with Horizontal(classes="request-buttons"):
                yield Button(self.submit_label, variant="primary", id="form-submit", compact=True)
                yield Button("Cancel", id="form-cancel", compact=True)

    def on_mount(self) -> None:
        focus_first_empty(self, self.fields)

    def values(self) -> Values:
        return read_fields(self, self.fields)

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
                self.show_error(describe_error(exc))
                return
            if self.confirm is not None:
                self._confirming = (values, request)
                self.show_error(self.confirm(request))
                self._set_label(f"Confirm: {self.submit_label}")
                return
        self.in_flight = True
        self.query_one("#form-submit", Button).disabled = True
        self.show_error("working …")
        self.requests_sent += 1
        self._run_submit(request)

    @work(exclusive=True, exit_on_error=False)
    async def _run_submit(self, request: T) -> None:
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
