"""`?`: every key, where it applies, and its binding id (for a keymap file)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from console.look import look

Sections = list[tuple[str, list[tuple[str, str, str]]]]


def help_table(sections: Sections) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="right", style=look("bold key"), no_wrap=True)
    table.add_column()
    table.add_column(style="dim")
    for title, rows in sections:
        table.add_row(Text(title, style=look("bold underline heading")), "", "")
        for key, description, binding_id in rows:
            table.add_row(key, description, binding_id)
        table.add_row("", "", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "close", id="help.close"),
        Binding("question_mark", "close", "close", show=False, id="help.close2"),
        Binding("j", "scroll_down", "down", show=False, id="help.down"),
        Binding("k", "scroll_up", "up", show=False, id="help.up"),
    ]

    def __init__(self, sections: Sections) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="help-box"):
            yield Label("Keys  (esc to close · the third column is the id to remap in a keymap file)",
                        classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(help_table(self.sections), id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll_down(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_down()

    def action_scroll_up(self) -> None:
        self.query_one("#help-scroll", VerticalScroll).scroll_up()
