"""A long table keeps what a person is looking at: the chosen row stays chosen, and on the same
screen line when the order changes and the table is rebuilt. DataTable.clear() scrolls to the
top; on a live board longer than the terminal the chosen call then jumped to the bottom edge
once DataTable scrolled it back, or was off-screen in the frames between."""

from __future__ import annotations

from textual.app import App, ComposeResult

from console.widgets.table import VimTable

ROWS = [(f"k{i}", (f"call {i}", str(i))) for i in range(40)]


class LongTable(App[None]):
    def compose(self) -> ComposeResult:
        yield VimTable([("name", "Name", 10), ("n", "N", 6)], id="t")


def screen_line(table: VimTable) -> int:
    return table.cursor_row - int(table.scroll_y)


async def chosen_near_the_end(pilot, table: VimTable) -> int:  # type: ignore[no-untyped-def]
    table.sync_rows(ROWS)
    table.focus()
    await pilot.pause()
    await pilot.press("G", "k", "k")
    await pilot.pause()
    assert table.selected_key == "k37" and table.scroll_y > 0
    return screen_line(table)


async def test_a_rebuild_keeps_the_chosen_row_on_its_screen_line() -> None:
    app = LongTable()
    async with app.run_test(size=(40, 15)) as pilot:
        table = app.query_one(VimTable)
        line = await chosen_near_the_end(pilot, table)
        rebuilds = table.rebuilds
        reordered = [*ROWS[1:], ROWS[0]]  # the first row moved to the end: not incremental
        for _ in range(3):  # the screen's redraws between syncs must not move it either
            table.sync_rows(reordered)
            assert table.selected_key == "k37" and screen_line(table) == line
            await pilot.pause()
            assert table.selected_key == "k37" and screen_line(table) == line
        assert table.rebuilds > rebuilds


async def test_rows_leaving_above_keep_the_chosen_row_chosen_and_in_view() -> None:
    """Incremental changes leave the view where it is (the chosen row moves up with its
    neighbours, as on a list), and never off-screen."""
    app = LongTable()
    async with app.run_test(size=(40, 15)) as pilot:
        table = app.query_one(VimTable)
        line = await chosen_near_the_end(pilot, table)
        rebuilds = table.rebuilds
        table.sync_rows([*ROWS[3:], ("n1", ("new", "x")), ("n2", ("new", "y"))])
        await pilot.pause()
        assert table.rebuilds == rebuilds  # incremental
        assert table.selected_key == "k37"
        assert 0 <= screen_line(table) <= line  # moved up with the rows above it gone, still on screen
