"""A DataTable with vim motions and keyed, incremental syncing from plain state.

DataTable re-renders every visible cell when anything changes, so the console never
feeds it one event at a time. Screens build the rows they want (bounded, ~1k) on a
throttled timer and call `sync_rows`; this widget works out the smallest change: cells
that differ are updated in place by key (`update_cell`), new rows are appended by key,
a few rows that left are removed, and only a reordering or a large change rebuilds.
The row under the cursor stays under the cursor across syncs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable

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
    ]

    def __init__(self, columns: Sequence[tuple[str, str, int | None]] = (), **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self._columns_spec = tuple(columns)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self.rebuilds = 0

    def on_mount(self) -> None:
        self._ensure_columns()

    def _ensure_columns(self) -> None:
        if not self.columns:
            for key, label, width in self._columns_spec:
                self.add_column(label, key=key, width=width)

    @property
    def column_keys(self) -> list[str]:
        return [key for key, _, _ in self._columns_spec]

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
        with self.prevent(DataTable.RowHighlighted):
            self._sync_rows(rows)

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
        cursor_key = self.selected_key
        if desired_keys[: len(kept)] == kept and len(removed) <= _MAX_INCREMENTAL_REMOVALS:
            for key in removed:
                self.remove_row(key)
                del self._cells[key]
            self._update_changed(rows[: len(kept)])
            for key, cells in rows[len(kept):]:
                self.add_row(*cells, key=key)
                self._cells[key] = cells
        else:
            self.rebuilds += 1
            self.clear(columns=False)
            self._cells = {}
            for key, cells in rows:
                self.add_row(*cells, key=key)
                self._cells[key] = cells
        self._restore_cursor(cursor_key)

    def _update_changed(self, rows: Sequence[Row]) -> None:
        columns = self.column_keys
        for key, cells in rows:
            old = self._cells.get(key)
            if old == cells:
                continue
            for i, value in enumerate(cells):
                if old is None or i >= len(old) or old[i] != value:
                    self.update_cell(key, columns[i], value)
            self._cells[key] = cells

    def _restore_cursor(self, key: str | None) -> None:
        if key is None or key not in self._cells:
            return
        index = self.get_row_index(key)
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False, scroll=False)
