"""Themes: a theme change (ctrl+p -> Theme) recolours the Rich text of every view, and is remembered.

The stylesheet follows a theme by itself (Textual re-applies its variables); table cells,
badges and transcripts are Rich `Text` styled through `console.look`, which the app points
at the new theme's variables, and the views redraw. The chosen theme is saved in the user's
preferences and is the theme of the next start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.style import Style
from rich.text import Text

from console.look import ROLES, Look, look, theme_variables, use_theme
from console.preferences import Preferences
from console.screens.agents import STATUS_STYLES
from console.widgets.badge import TopBar
from console.widgets.table import VimTable
from tests.console.conftest import SIZE, ConsoleFactory, until


@pytest.fixture(autouse=True)
def default_look() -> Iterator[None]:
    yield
    use_theme(theme_variables())  # the next test starts from the default theme's colours


def status_styles(table: VimTable) -> dict[str, Style]:
    """The style of each agent's status cell (the second column), by status."""
    out: dict[str, Style] = {}
    for key in table.row_keys():
        cell = table.get_row(key)[1]
        assert isinstance(cell, Text)
        status = cell.plain.removeprefix("● ").lower()
        if STATUS_STYLES.get(status) and isinstance(cell.style, Style):
            out[status] = cell.style
    return out


def expected(theme: str, status: str) -> Style:
    return Look(theme_variables(theme))(STATUS_STYLES[status])


async def test_a_theme_change_recolours_the_views_and_the_next_start_uses_it(
        console_factory: ConsoleFactory, tmp_path: Path) -> None:
    prefs = tmp_path / "preferences.toml"
    app = console_factory(stream=False, start_view="agents", preferences_path=prefs)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#agents-table", VimTable)
        await until(pilot, lambda: bool(status_styles(table)))
        before = status_styles(table)
        assert all(style == expected("textual-dark", status) for status, style in before.items())
        bar_before = app.screen.query_one(TopBar).render()

        app.theme = "nord"
        await until(pilot, lambda: all(style == expected("nord", s) for s, style in status_styles(table).items())
                    and status_styles(table) != before)
        await until(pilot, lambda: app.screen.query_one(TopBar).render() != bar_before)
        assert look("badge-off") == Look(theme_variables("nord"))("badge-off")
        await until(pilot, lambda: Preferences.load(prefs).theme == "nord")

    again = console_factory(stream=False, start_view="agents", preferences_path=prefs)
    async with again.run_test(size=SIZE) as pilot:
        assert again.theme == "nord"
        table = again.screen.query_one("#agents-table", VimTable)
        await until(pilot, lambda: bool(status_styles(table)))
        assert all(style == expected("nord", status) for status, style in status_styles(table).items())


def test_every_role_resolves_in_every_built_in_theme() -> None:
    """A role names theme variables only; each gives a colour (or the terminal's own, in ANSI themes)."""
    from textual.theme import BUILTIN_THEMES

    for name in BUILTIN_THEMES:
        palette = Look(theme_variables(name))
        for role, spec in ROLES.items():
            style = palette(role)
            assert style.color is not None, (name, role)
            assert ("on" in spec.split()) == (style.bgcolor is not None), (name, role)


def test_badges_are_readable_on_their_colour() -> None:
    palette = Look(theme_variables("textual-light"))
    live = palette("badge-live")
    assert live.color is not None and live.bgcolor is not None and live.color != live.bgcolor
    assert live.bold


def test_an_unknown_word_costs_its_colour_never_the_screen() -> None:
    palette = Look(theme_variables())
    assert palette("bold no-such-role") == Style(bold=True)
    assert Look({"background": "not a colour", "text-success": "also not"})("good") == Style()


async def test_a_cell_whose_whole_style_changed_is_redrawn() -> None:
    """Rich's `Text ==` ignores the style of the whole text: a call's row dimmed at hang-up (or a
    status recoloured by a theme change) must still be redrawn."""
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield VimTable([("who", "Who", 10)])

    app = One()
    async with app.run_test() as pilot:
        table = app.query_one(VimTable)
        table.sync_rows([("c1", (Text("+919811100001", style="bold"),))])
        await pilot.pause()
        table.sync_rows([("c1", (Text("+919811100001", style="dim"),))])
        await pilot.pause()
        cell = table.get_row("c1")[0]
        assert isinstance(cell, Text) and cell.style == "dim"
