"""What every numbered view shares: the top bar, a `/` filter, the footer, a redraw hook.

Views hold no business logic: they lay out widgets, turn state into rows, and hand
user intent to `console.actions` (through the app). The app's refresh timer calls
`refresh_view(now)` on the visible view at most ~10 times a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Label

from console.state import ViewFilter
from console.widgets.badge import BarInfo, TopBar

if TYPE_CHECKING:
    from console.app import ConsoleApp

PaletteCommand = tuple[str, str, Callable[[], Any]]


class FilterBar(Horizontal):
    """`/` opens it; typing filters the view; enter keeps the filter, esc clears it."""

    DEFAULT_CSS = """
    FilterBar { height: 1; display: none; }
    FilterBar.-open { display: block; }
    FilterBar > Label { width: auto; padding: 0 1; background: $accent; color: $text; }
    FilterBar > Input { border: none; height: 1; padding: 0 1; width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Label("filter /")
        # compact: a one-row Input without the tall border, whose text sits on the row shown
        # (with the border the typed text was on a row the bar has no room for).
        yield Input(placeholder="type to filter; enter keeps it, esc clears", id="filter-input", compact=True)


class ViewFooter(Footer):
    """Textual's footer, recomposed only when the keys it would show changed.

    The footer rebuilds all its key widgets on every bindings update (each view switch,
    each focus change, each refresh of which keys apply), and restyling those widgets was a
    good part of what a view switch cost; mostly the keys were the same as before."""

    def __init__(self) -> None:
        super().__init__()
        self._composed: tuple[object, ...] | None = None

    def _keys_shown(self) -> tuple[object, ...]:
        return (self.compact, self.show_command_palette, tuple(
            (binding.key, binding.action, binding.description, binding.key_display, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values() if binding.show))

    async def recompose(self) -> None:
        shown = self._keys_shown() if self._bindings_ready else None
        if shown is not None and shown == self._composed and self.children:
            return
        self._composed = shown
        await super().recompose()


class ViewScreen(Screen[None]):
    """Base of the numbered views."""

    VIEW_TITLE: ClassVar[str] = ""
    LIVE: ClassVar[bool] = False       # frozen while the live feed is paused
    # Layouts adapt to the terminal: the stylesheet styles `Screen.-narrow` (below 100
    # columns), `-medium` (100-139) and `-wide`, and `-short` (below 30 rows).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    BINDINGS = [
        Binding("slash", "open_filter", "filter", id="view.filter"),
        Binding("escape", "close", "clear the filter, close a panel, else back", show=False, id="view.escape"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = ViewFilter()

    @property
    def ready(self) -> bool:
        """Composed and mounted: the refresh timer may draw."""
        return self.is_mounted and bool(self.query(TopBar))

    @property
    def capp(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        yield from self.compose_body()
        yield FilterBar(id="filterbar")
        yield ViewFooter()

    def compose_body(self) -> ComposeResult:
        """The view's own widgets between the top bar and the footer; each view gives its own."""
        yield from ()

    def show_bar(self, info: BarInfo) -> None:
        self.query_one(TopBar).show(info)

    def refresh_view(self, now: float) -> None:
        """Redraw from state (called on a throttle by the app)."""

    def selected_number(self) -> str | None:
        """The phone number under the cursor, for click-to-call (c)."""
        return None

    def palette_commands(self) -> Iterable[PaletteCommand]:
        return ()

    def on_screen_resume(self) -> None:
        self.capp.request_refresh()

    # ---- which keys apply (the footer shows only those) --------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Single-letter keys never apply while a text field has focus (it takes the letters)."""
        if isinstance(self.focused, Input):
            keymap = self.app._keymap
            binding_keys = {
                b.action.split("(")[0]: keymap.get(b.id, b.key) if b.id else b.key for b in self._bindings_for_check()
            }
            key = binding_keys.get(action)
            if key is not None and len(key) == 1:
                return False
        return self.check_view_action(action, parameters)

    def _bindings_for_check(self) -> list[Binding]:
        return [b for b in type(self).BINDINGS if isinstance(b, Binding)]

    def refresh_bindings(self) -> None:
        """Recompute which keys apply, and show that in the footer.

        In a real terminal a mode's screen reports `is_attached` False, and Textual's
        bindings signal is then not delivered, so the footer kept the keys of the moment
        the view opened (no "x stop" once the campaigns had loaded). The footer is told
        directly in that case."""
        super().refresh_bindings()
        if self.is_mounted and not self.is_attached:
            for footer in self.query(Footer):
                footer._bindings_ready = True
                footer.call_after_refresh(footer.recompose)

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Views say here whether one of their actions applies right now."""
        return True

    # ---- the filter -------------------------------------------------------------------------

    @property
    def view(self) -> ViewFilter:
        """This view's text filter combined with the app-wide "me"/"everyone" choice."""
        self.filter.mine_only = self.capp.state.view.mine_only
        return self.filter

    def action_open_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.add_class("-open")
        field = self.query_one("#filter-input", Input)
        field.focus()
        # Once more after what is queued: on a first visit the view's own on_mount (focus
        # its table) may still be waiting, and would take the letters typed next.
        self.call_after_refresh(field.focus)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter-input":
            self.filter.text = event.value.strip()
            self.filter_changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter-input":
            event.stop()
            self.focus_main()
            if not self.filter.text:
                self.query_one(FilterBar).remove_class("-open")

    def filter_changed(self) -> None:
        self.capp.request_refresh()

    def focus_main(self) -> None:
        """Put the focus back on the view's main table."""
        self.focus_next()

    async def action_close(self) -> None:
        """esc: clear an open filter, else whatever the app does for "back"."""
        bar = self.query_one(FilterBar)
        if bar.has_class("-open"):
            bar.remove_class("-open")
            self.query_one("#filter-input", Input).value = ""
            self.filter.text = ""
            self.filter_changed()
            self.focus_main()
            return
        if self.close_panel():
            return
        await self.capp.action_back()

    def close_panel(self) -> bool:
        """Close a view-specific panel on esc; True if one was open."""
        return False
