"""The form for the long dialogs: the console's one form (`FormScreen`), drawn compact.

The long dialogs (new campaign, new order, buy a number, upload a phonebook) hold a dozen
fields or more, so this form is compact (one line per field) and scrolls. Reading,
checking, confirming and sending are FormScreen's: what was typed goes through `build` (a
`console.form_models` model's `to_request`) into the typed request the client sends; a
field that does not read is shown in words and nothing is sent. With `confirm`, the first
press shows what will happen ("Buy +91… for plan 407890 until …") and only a second press on
the same, unchanged request sends it; one confirmation is one request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from console.screens.forms import FormScreen, Row, Values, focus_first_empty
from console.widgets.plain import plain

__all__ = ["RequestForm", "Row"]

T = TypeVar("T")


class RequestForm(FormScreen[T]):
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
        super().__init__(title, rows, build=build, submit=submit, submit_label=submit_label, note=note,
                         confirm=confirm)

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
