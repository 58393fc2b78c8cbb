"""The mouse and the sort keys: a click on a view's tab goes there, a click on a header
(or `>` / `<`) sorts a table by that column, numbers by value, and the header says so."""

from __future__ import annotations

from textual.app import App, ComposeResult

from console.screens.agents import AgentsScreen
from console.screens.calllog import CallLogScreen
from console.screens.live import LiveScreen
from console.widgets.badge import BarInfo, FeedStatus, TopBar, layout_bar
from console.widgets.table import VimTable
from tests.console.conftest import SIZE, until

ROWS = [("a", ("Priya", "9 s", "12")), ("b", ("amit", "1:05", "3")), ("c", ("Zoya", "30 s", "100"))]


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        yield VimTable([("name", "Name", 10), ("dur", "Dur", 8), ("n", "N", 6)], id="t")


def column(table: VimTable, index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


def headers(table: VimTable) -> list[str]:
    return [str(c.label) for c in table.columns.values()]


async def test_a_header_click_sorts_by_value_then_reverses_then_restores() -> None:
    app = OneTable()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(VimTable)
        table.sync_rows(ROWS)
        table.move_cursor(row=2)  # on Zoya
        await pilot.pause()
        x_dur = 10 + 2 * table.cell_padding + 1  # inside the second header
        await pilot.click(VimTable, offset=(x_dur, 0))
        await pilot.pause()
        assert column(table, 1) == ["9 s", "30 s", "1:05"]  # durations by value, not as text
        assert headers(table)[1] == "Dur ▲"
        assert table.selected_key == "c"  # the cursor stays on the row the user was on
        await pilot.click(VimTable, offset=(x_dur, 0))
        await pilot.pause()
        assert column(table, 1) == ["1:05", "30 s", "9 s"] and headers(table)[1] == "Dur ▼"
        await pilot.click(VimTable, offset=(x_dur, 0))
        await pilot.pause()
        assert column(table, 0) == ["Priya", "amit", "Zoya"] and headers(table)[1] == "Dur"  # the view's order
        table.sync_rows([*ROWS, ("d", ("Bela", "2 s", "7"))])  # new rows keep to the sort in force
        await pilot.press(">")  # by the first column
        await pilot.pause()
        assert column(table, 0) == ["amit", "Bela", "Priya", "Zoya"] and headers(table)[0] == "Name ▲"
        await pilot.press(">", ">")  # by the third: numbers by value
        await pilot.pause()
        assert column(table, 2) == ["3", "7", "12", "100"]
        await pilot.press("<")
        await pilot.pause()
        assert column(table, 2) == ["100", "12", "7", "3"] and headers(table)[2] == "N ▼"
        await pilot.press(">")  # past the last column: the view's own order
        await pilot.pause()
        assert table.sort_by is None and column(table, 0) == ["Priya", "amit", "Zoya", "Bela"]


def test_the_tabs_are_where_the_bar_draws_them_at_every_width() -> None:
    info = BarInfo(views=(("1", "Live"), ("2", "Agents"), ("3", "Tasks")), current="Agents", who="everyone",
                   stream=FeedStatus("live"), bot=None, paused=False, clock="10:00:00 UTC · IST 15:30")
    for width in (200, 60, 40):
        text, tabs = layout_bar(info, width)
        assert [key for _, _, key in tabs] == ["1", "2", "3"]
        for start, end, key in tabs:
            assert key in text.plain[start:end], (width, text.plain, start, end)


async def test_a_click_on_a_tab_switches_views_even_from_a_text_field(console_factory) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(app.screen.query_one(TopBar).tabs))
        for key, cls in (("4", CallLogScreen), ("2", AgentsScreen), ("1", LiveScreen)):
            bar = app.screen.query_one(TopBar)
            start, _, _ = next(t for t in bar.tabs if t[2] == key)
            await pilot.click(TopBar, offset=(start + 1, 0))
            await until(pilot, lambda cls=cls: isinstance(app.screen, cls))  # type: ignore[misc]
            await until(pilot, lambda: bool(app.screen.query_one(TopBar).tabs))
        await pilot.click(TopBar, offset=(next(t for t in app.screen.query_one(TopBar).tabs if t[2] == "4")[0], 0))
        await until(pilot, lambda: isinstance(app.screen, CallLogScreen))
        screen = app.screen
        await pilot.press("s")  # typing in the search form
        await pilot.pause()
        bar = screen.query_one(TopBar)
        await pilot.click(TopBar, offset=(next(t for t in bar.tabs if t[2] == "2")[0] + 1, 0))
        await until(pilot, lambda: isinstance(app.screen, AgentsScreen))
        bar = app.screen.query_one(TopBar)
        clock_x = bar.tabs[-1][1] + 20  # past the tabs: nothing happens
        await pilot.click(TopBar, offset=(clock_x, 0))
        await pilot.pause()
        assert isinstance(app.screen, AgentsScreen)
