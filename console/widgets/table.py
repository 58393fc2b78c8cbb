"""A DataTable with vim motions and keyed, incremental syncing from plain state.

DataTable re-renders every visible cell when anything changes, so the console never
feeds it one event at a time. Screens build the rows they want (bounded, ~1k) on a
throttled timer and call `sync_rows`; this widget works out the smallest change: cells
that differ are updated in place by key (`update_cell`), new rows are appended by key,
a few rows that left are removed, and only a reordering or a large change rebuilds.
The row under the cursor stays under the cursor across syncs.

Two things a person expects of a table in a terminal of any size: columns give way by
priority when the table is narrow (a column's priority: 0 never goes, higher ones go
first), and sorting by any column: a click on a header sorts by it (again: reversed, a
third time: the view's own order); from the keyboard `>` sorts by the next column on
screen (past the last: the view's own order) and `<` reverses it. The sorted column's
header carries ▲ or ▼. Sorting orders the rows the view holds; new rows take their place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, RowKey

from console.widgets.plain import safe_cell

Cell = str | Text
Row = tuple[str, tuple[Cell, ...]]

# Removing a row is O(rows) in DataTable; past this many removals a rebuild is cheaper.
_MAX_INCREMENTAL_REMOVALS = 64


class VimTable(DataTable[Any]):
    """Row-cursor table; j/k/g/G as in vim; rows synced by key from state."""

    BINDINGS = [
        Binding("j", "cursor_down", "down", show=False, id="table.down"),
        Binding("k", "cursor_up", "up", show=False, id="table.up"),
        Binding("g", "scroll_top", "top", show=False, id="table.top"),
        Binding("G", "scroll_bottom", "bottom", show=False, id="table.bottom"),
        Binding("ctrl+d", "page_down", "page down", show=False, id="table.page_down"),
        Binding("ctrl+u", "page_up", "page up", show=False, id="table.page_up"),
        Binding("greater_than_sign", "sort_next", "sort by the next column", show=False, id="table.sort"),
        Binding("less_than_sign", "sort_reverse", "reverse the sort", show=False, id="table.sort_reverse"),
    ]

    def __init__(
        self,
        columns: Sequence[tuple[str, str, int | None]] = (),
        *,
        priorities: dict[str, int] | None = None,
        sortable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self._columns_spec = tuple(columns)
        self._priorities = dict(priorities or {})
        self._shown: tuple[int, ...] = tuple(range(len(self._columns_spec)))
        self._hidden: frozenset[str] = frozenset()
        self._fit_width = 0  # the last real width fitted to (a hidden screen reports 0)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._view_order: list[str] = []
        self.sortable = sortable
        self.sort_by: str | None = None
        self.sort_reverse = False
        self.rebuilds = 0

    def on_mount(self) -> None:
        self._ensure_columns()

    def _ensure_columns(self) -> None:
        if not self.columns:
            for i in self._shown:
                key, label, width = self._columns_spec[i]
                if key == self.sort_by:
                    label = f"{label} {'▼' if self.sort_reverse else '▲'}"
                self.add_column(label, key=key, width=width)

    @property
    def column_keys(self) -> list[str]:
        return [key for key, _, _ in self._columns_spec]

    @property
    def shown_columns(self) -> list[str]:
        """The columns on screen now (the narrow ones dropped by priority)."""
        return [self._columns_spec[i][0] for i in self._shown]

    def _pick(self, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
        return tuple(cells[i] if i < len(cells) else Text("") for i in self._shown)

    # ---- columns by priority ------------------------------------------------------------

    def hide_columns(self, keys: Iterable[str]) -> None:
        """Columns that carry nothing in this setting (a worker column outside a fleet) are
        never shown, whatever the width; the others are fitted again."""
        hidden = frozenset(keys)
        if hidden != self._hidden:
            self._hidden = hidden
            self.fit_columns(self.size.width - 1)

    def fit_columns(self, width: int) -> None:
        """Show the most important columns that fit in `width` cells (before the first layout,
        when the width is unknown, all that are not hidden)."""
        if not self._columns_spec:
            return
        width = width if width > 0 else self._fit_width
        self._fit_width = width
        shown = [i for i, (key, _, _) in enumerate(self._columns_spec) if key not in self._hidden]

        def cost(indices: list[int]) -> int:
            return sum((self._columns_spec[i][2] or 8) + 2 * self.cell_padding for i in indices) + 1

        droppable = sorted((i for i in shown if self._priorities.get(self._columns_spec[i][0], 0) > 0),
                           key=lambda i: (-self._priorities[self._columns_spec[i][0]], -i))
        while width > 0 and cost(shown) > width and droppable:
            shown.remove(droppable.pop(0))
        if tuple(shown) != self._shown:
            self._shown = tuple(shown)
            if self.is_mounted:
                self._relayout()

    def on_resize(self) -> None:
        self.fit_columns(self.size.width - 1)

    def _relayout(self) -> None:
        """Rebuild with the columns now shown (a resize), keeping rows and cursor."""
        anchor = self._anchor()
        with self.prevent(DataTable.RowHighlighted):
            self.clear(columns=True)
            self._ensure_columns()
            for key in list(self._cells):
                self.add_row(*self._pick(self._cells[key]), key=key)
            self._restore_cursor(anchor)
        self.rebuilds += 1

    # ---- sorting by a header click ----------------------------------------------------------

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if not self.sortable or event.column_key.value is None:
            return
        event.stop()
        key = event.column_key.value
        if self.sort_by != key:
            self.sort_by, self.sort_reverse = key, False
        elif not self.sort_reverse:
            self.sort_reverse = True
        else:
            self.sort_by, self.sort_reverse = None, False
        self._resort()

    def action_sort_next(self) -> None:
        """Sort by the column after the sorted one (the first if none; past the last: unsorted)."""
        if not self.sortable:
            return
        shown = self.shown_columns
        at = shown.index(self.sort_by) + 1 if self.sort_by in shown else 0
        self.sort_by, self.sort_reverse = (shown[at] if at < len(shown) else None), False
        self._resort()

    def action_sort_reverse(self) -> None:
        if not self.sortable or not self.shown_columns:
            return
        if self.sort_by is None:
            self.sort_by, self.sort_reverse = self.shown_columns[0], False
        self.sort_reverse = not self.sort_reverse
        self._resort()

    def sort_label(self) -> str:
        """"sorted by Time ↓" for a title, or "" in the view's own order."""
        if self.sort_by is None:
            return ""
        label = next((lab for key, lab, _ in self._columns_spec if key == self.sort_by), self.sort_by)
        return f"sorted by {label} {'↓' if self.sort_reverse else '↑'}"

    def _sorted(self, rows: Sequence[Row]) -> list[Row]:
        if self.sort_by is None or self.sort_by not in self.column_keys:
            return list(rows)
        index = self.column_keys.index(self.sort_by)
        return sorted(rows, key=lambda row: _sort_key(row[1][index] if index < len(row[1]) else ""),
                      reverse=self.sort_reverse)

    def _resort(self) -> None:
        """Rebuild in the new order with the header's arrow moved, the cursor on the same row."""
        rows = [(key, self._cells[key]) for key in self._view_order if key in self._cells]
        cursor_key = self.selected_key
        with self.prevent(DataTable.RowHighlighted):
            self.clear(columns=True)
            self._cells = {}
            self._sync_rows(self._sorted(rows))
            if cursor_key in self._cells:
                self.move_cursor(row=self.get_row_index(cursor_key), animate=False)
        self.rebuilds += 1

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside the rows during a rebuild
            return None

    def row_keys(self) -> list[str]:
        return list(self._cells)

    def sync_rows(self, rows: Sequence[Row]) -> None:
        """Make the table show exactly `rows` (in order), with as few changes as possible.

        Every cell becomes a `Text` first (`safe_cell`): a `str` from the server is shown
        literally, never parsed as markup, whichever screen built the row.

        The cursor stays on the row (by key) the user chose. The cursor moves a sync
        makes (rows removed or rebuilt under it) post no RowHighlighted: views take that
        message as the user choosing a row, and a new call must never look like one."""
        self._view_order = [key for key, _ in rows]
        with self.prevent(DataTable.RowHighlighted):
            self._sync_rows(self._sorted(rows))

    def select_key(self, key: str) -> bool:
        """Put the cursor on the row `key` (a view's own choice, not the user's: no message)."""
        if key not in self._cells:
            return False
        index = self.get_row_index(key)
        if index != self.cursor_row:
            with self.prevent(DataTable.RowHighlighted):
                self.move_cursor(row=index, animate=False)
        return True

    def _sync_rows(self, rows: Sequence[Row]) -> None:
        self._ensure_columns()
        rows = [(key, tuple(safe_cell(cell) for cell in cells)) for key, cells in rows]
        desired_keys = [key for key, _ in rows]
        current_keys = list(self._cells)
        if desired_keys == current_keys:
            self._update_changed(rows)
            return
        wanted = set(desired_keys)
        removed = [key for key in current_keys if key not in wanted]
        kept = [key for key in current_keys if key in wanted]
        anchor = self._anchor()
        if desired_keys[: len(kept)] == kept and len(removed) <= _MAX_INCREMENTAL_REMOVALS:
            anchor = (anchor[0], None)  # rows leave and arrive around a view that stays where it is
            for key in removed:
                self.remove_row(key)
                del self._cells[key]
            self._update_changed(rows[: len(kept)])
            for key, cells in rows[len(kept):]:
                self.add_row(*self._pick(cells), key=key)
                self._cells[key] = cells
        else:
            self.rebuilds += 1
            self.clear(columns=False)
            self._cells = {}
            for key, cells in rows:
                self.add_row(*self._pick(cells), key=key)
                self._cells[key] = cells
        self._restore_cursor(anchor)

    # ---- sizing: fixed-width columns are never measured -----------------------------------

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """DataTable measures every cell of every new row to size auto-width columns. The
        console's tables give most columns a width, so for them that is wasted work that
        grows with the rows added: a board that takes in a thousand new calls under a
        flood spent a quarter of a second per redraw measuring cells whose width was set.
        With every column fixed (and one-line rows), only the virtual size is updated."""
        rows = list(new_rows)
        if any(column.auto_width for column in self.columns.values()) or any(
            (row := self.rows.get(key)) is not None and (row.label is not None or row.auto_height) for key in rows
        ):
            super()._update_dimensions(rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values()) + self._row_label_column_width
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width, self._total_row_height + header)

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        """Updated cells re-measure their column only where the column sizes to its content:
        a narrower cell in a fixed-width column made DataTable measure the whole column."""
        auto = {cell for cell in updated_cells
                if (column := self.columns.get(cell.column_key)) is None or column.auto_width}
        if auto:
            super()._update_column_widths(auto)

    def _update_changed(self, rows: Sequence[Row]) -> None:
        columns = self.column_keys
        for key, cells in rows:
            old = self._cells.get(key)
            if old is not None and len(old) == len(cells) and all(map(_same_cell, old, cells)):
                continue
            for i in self._shown:
                value = cells[i] if i < len(cells) else Text("")
                if old is None or i >= len(old) or not _same_cell(old[i], value):
                    self.update_cell(key, columns[i], value)
            self._cells[key] = cells

    def _anchor(self) -> tuple[str | None, int | None]:
        """What a person is looking at: the chosen row and the screen line it is on."""
        return self.selected_key, self.cursor_row - int(self.scroll_y)

    def _restore_cursor(self, anchor: tuple[str | None, int | None]) -> None:
        """The chosen row chosen again after rows left or the table was rebuilt; after a
        rebuild (a screen line given), on the line it was on. DataTable.clear() scrolls to the
        top and then scrolls the cursor back into view at an edge: on a board longer than the
        terminal, the chosen call jumped to the bottom line, or was off-screen for the frames
        in between. (A chosen row that was out of sight is brought into view by DataTable.)"""
        key, line = anchor
        if key is None or key not in self._cells:
            return
        index = self.get_row_index(key)
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False, scroll=False)
        if line is None:
            return
        rows_on_screen = self.scrollable_content_region.height - (self.header_height if self.show_header else 0)
        if 0 <= line < rows_on_screen and (target := float(max(0, index - line))) != self.scroll_y:
            self.scroll_target_y = self.scroll_y = target


def _same_cell(a: Cell, b: Cell) -> bool:
    """Shown alike. Rich's `Text ==` compares the characters and spans only, not the style of the
    whole text: a call's row dimmed when it ends, or a status recoloured by a theme change,
    would otherwise keep its old look."""
    if isinstance(a, Text) and isinstance(b, Text):
        return a == b and a.style == b.style and a.justify == b.justify
    return a == b


def _sort_key(cell: Cell) -> tuple[int, float, str]:
    """Numbers (and durations like `1:05`, `12 s`) by value, everything else as text."""
    text = cell.plain if isinstance(cell, Text) else str(cell)
    bare = text.strip().replace(",", "")
    for suffix in (" s", "s"):
        if bare.endswith(suffix) and bare[: -len(suffix)].strip().replace(".", "", 1).isdigit():
            return (0, float(bare[: -len(suffix)]), "")
    if bare.count(":") in (1, 2) and bare.replace(":", "").isdigit() and len(bare) <= 8:
        total = 0.0
        for part in bare.split(":"):
            total = total * 60 + float(part)
        return (0, total, "")
    try:
        return (0, float(bare), "")
    except ValueError:
        return (1, 0.0, text.lower())
