"""4 Call log: search with every documented filter; results page in as you scroll.

The form maps one to one onto `CallLogQuery` (date range, customer, agent, status,
solution type, duration range, campaign, disposition, agent/customer status, action,
device). The first page comes from a search (asking for the total count); further pages
are asked for by `offset` when the cursor or the scroll position nears the end. Searches run in an exclusive worker: a
new search cancels the one in flight. enter opens the detailed call log and recording; `e`
writes every row the search matched (all pages, as `console.calllog_csv` explains) to a CSV file.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select

from console.actions import (
    CALL_STATUSES,
    PAGE_SIZE,
    SOLUTION_TYPES,
    ActionError,
    CallLogQuery,
    CallLogRecord,
    build_call_log_query,
    fmt_dt,
)
from console.calllog_csv import (
    ExportError,
    default_export_name,
    default_export_path,
    export_call_log,
    export_query,
    resolve_export_path,
)
from console.display import time_format
from console.look import generation, look
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.detail import DetailScreen
from console.screens.forms import FormField, FormScreen, Values
from console.widgets.plain import plain
from console.widgets.table import VimTable

MAX_LOADED = 2000
TEXT_FIELDS = (
    ("start", "from", "YYYY-MM-DD [HH:MM], your zone"),
    ("end", "to", "YYYY-MM-DD [HH:MM], your zone"),
    ("customer", "customer", "number or part of it"),
    ("agent", "agent", "agent number"),
    ("min_duration", "longer than", "seconds"),
    ("max_duration", "shorter than", "seconds"),
    ("campaign_id", "campaign", "id[, id …]"),
    ("disposition", "disposition", "any"),
    ("agent_status", "agent status", "any"),
    ("customer_status", "cust. status", "any"),
    ("action", "action", "any"),
    ("agent_device", "device", "any"),
)
# The grid's reading order: four per row, the common filters first.
FORM_ORDER = ("start", "end", "customer", "agent", "call_status", "solution_type", "min_duration", "max_duration",
              "campaign_id", "disposition", "agent_status", "customer_status", "action", "agent_device", "buttons")

STATUS_STYLES = {"connected": "good", "missed": "bold bad", "abandoned": "warn", "failed": "bad"}  # console.look roles


def record_cells(record: CallLogRecord) -> tuple[Text | str, ...]:
    status = record.call_status or ""
    return (
        fmt_dt(record.start_time),
        Text("in" if record.inbound else "out", style=look("inbound" if record.inbound else "outbound")),
        record.customer_number or Text("—", style="dim"),
        record.agent_number or Text("—", style="dim"),
        Text(status, style=look(STATUS_STYLES.get(status.lower(), ""))),
        Text(f"{record.duration or 0} s", justify="right"),
        record.solution_type or "",
        record.disposition or "",
        Text("♪" if record.recording_url else "", style=look("info")),
        Text((record.uuid or "")[:8], style="dim"),
    )


class CallLogScreen(ViewScreen):
    VIEW_TITLE = "Call log"

    BINDINGS = [
        Binding("enter", "details", "details", id="calllog.details"),
        Binding("s", "focus_form", "search form", id="calllog.form"),
        Binding("n", "more", "next page", id="calllog.more"),
        Binding("ctrl+s", "search", "search", id="calllog.search"),
        Binding("e", "export", "export CSV", id="calllog.export"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, CallLogRecord] = {}
        self.query_used: CallLogQuery | None = None
        self.searched_at = datetime.now(UTC)
        self.last_export: Path | None = None
        self.next_query: CallLogQuery | None = None
        self.total: int | None = None
        # Not `loading`: that name is Textual's Widget.loading reactive, which on a Screen
        # covers the whole screen while it is first laid out and leaves it without a size:
        # in a real terminal the view then never paints (it froze the console on `4`).
        self.searching = False
        self.pages = 0
        self._generation = 0
        self._look = generation()
        self._status = "s edits the search form · enter or ctrl+s runs it · esc back to the results"
        self._note = ""

    def compose_body(self) -> ComposeResult:
        with Vertical(id="calllog-pane"):
            texts = {name: (label, placeholder) for name, label, placeholder in TEXT_FIELDS}
            with Grid(id="calllog-form"):
                for name in FORM_ORDER:
                    with Horizontal(classes="field"):
                        if name in texts:
                            label, placeholder = texts[name]
                            yield Label(label, classes="field-label")
                            yield Input(placeholder=placeholder, id=f"q-{name}", classes="compact", compact=True)
                        elif name == "call_status":
                            yield Label("status", classes="field-label")
                            yield Select([(s or "any", s) for s in CALL_STATUSES], value="", allow_blank=False,
                                         id="q-call_status", classes="compact", compact=True)
                        elif name == "solution_type":
                            yield Label("solution", classes="field-label")
                            yield Select([(s, s) for s in SOLUTION_TYPES], value="all", allow_blank=False,
                                         id="q-solution_type", classes="compact", compact=True)
                        else:
                            yield Button("Search", variant="primary", id="q-search", classes="compact-button", compact=True)
                            yield Button("Clear", id="q-clear", classes="compact-button", compact=True)
            yield Label(plain(self._status), id="calllog-status", classes="pane-title")
            yield VimTable(
                [("start", f"Start ({time_format().label()})", 16),
                 ("dir", "Dir", 3), ("customer", "Customer", 15), ("agent", "Agent", 15),
                 ("status", "Status", 10), ("duration", "Dur", 7), ("solution", "Solution", 10),
                 ("disposition", "Disposition", 14), ("rec", "Rec", 3), ("uuid", "Call", 8)],
                id="calllog-table",
                priorities={"uuid": 7, "solution": 6, "disposition": 5, "rec": 4, "dir": 3, "agent": 2, "duration": 1},
            )

    def on_mount(self) -> None:
        start = datetime.now(time_format().zone) - timedelta(days=7)
        self.query_one("#q-start", Input).value = start.strftime("%Y-%m-%d")
        self.watch(self.query_one("#calllog-table", VimTable), "scroll_y", self._scrolled, init=False)
        # Start on the results (number keys keep switching views) with last week's calls.
        self.focus_main()
        self.action_search()

    def focus_main(self) -> None:
        self.query_one("#calllog-table", VimTable).focus()

    def close_panel(self) -> bool:
        if isinstance(self.focused, (Input, Select)):
            self.focus_main()
            return True
        return False

    # ---- search ----------------------------------------------------------------------------

    def form_values(self) -> dict[str, str]:
        values = {name: self.query_one(f"#q-{name}", Input).value for name, _, _ in TEXT_FIELDS}
        for name in ("call_status", "solution_type"):
            value = self.query_one(f"#q-{name}", Select).value
            values[name] = "" if value is Select.BLANK else str(value)
        return values

    def _set_status(self, text: str, *, note: str | None = None) -> None:
        """The results' own line (what is loaded, what went wrong) and, after it, a note of the
        last thing done with them (an export): the note never hides how many calls are loaded."""
        self._status = text
        self._note = note if note is not None else ""
        shown = f"{text} · {self._note}" if self._note else text
        self.query_one("#calllog-status", Label).update(plain(shown))

    @on(Input.Submitted, "#calllog-form Input")
    @on(Button.Pressed, "#q-search")
    def action_search(self) -> None:
        try:
            query = build_call_log_query(self.form_values(), limit=PAGE_SIZE).model_copy(update={"get_total": True})
        except ActionError as exc:
            self._set_status(f"⚠ {exc}")
            return
        self.query_used = query
        self.searched_at = datetime.now(UTC)
        self.records = {}
        self.next_query = None
        self.total = None
        self.pages = 0
        self.query_one("#calllog-table", VimTable).sync_rows([])
        self._set_status("searching …")
        self._generation += 1
        self._search(query, True, self._generation)

    @on(Button.Pressed, "#q-clear")
    def clear_form(self) -> None:
        for name, _, _ in TEXT_FIELDS:
            self.query_one(f"#q-{name}", Input).value = ""
        self.query_one("#q-call_status", Select).value = ""
        self.query_one("#q-solution_type", Select).value = "all"

    @work(group="calllog-search", exclusive=True, exit_on_error=False)
    async def _search(self, query: CallLogQuery, first: bool, generation: int) -> None:
        self.searching = True
        try:
            page = await self.capp.actions.search_call_log(query)
        except ActionError as exc:
            self.searching = False
            self._set_status(f"⚠ {exc}")
            return
        self.searching = False
        if generation != self._generation:
            return  # a newer search replaced this one
        self.pages += 1
        for record in page.objects:
            key = record.uuid or f"row-{len(self.records)}"
            self.records.setdefault(key, record)
        if first:
            self.total = page.meta.total_count
        following = query.after(page)
        self.next_query = following.model_copy(update={"get_total": None}) if following is not None else None
        table = self.query_one("#calllog-table", VimTable)
        self._show_rows()
        self._update_status()
        if first and self.records and isinstance(self.focused, (Button, Input, Select)):
            # Results are in: the keys (j, k, G, enter) go to them, not into the form
            # the search was typed in (s goes back to it).
            table.focus()

    def _shown(self, r: CallLogRecord) -> bool:
        """The `/` filter (the search itself is the form's)."""
        return self.view.matches_text(r.customer_number, r.agent_number, r.call_status, r.solution_type,
                                      r.disposition, r.uuid, r.call_direction)

    def _show_rows(self) -> None:
        """The loaded results, narrowed by the `/` filter."""
        self.query_one("#calllog-table", VimTable).sync_rows([
            (key, record_cells(r)) for key, r in self.records.items() if self._shown(r)
        ])

    def filter_changed(self) -> None:
        self._show_rows()

    def refresh_view(self, now: float) -> None:
        if generation() != self._look:  # another theme: the loaded rows in its colours
            self._look = generation()
            self._show_rows()

    def _update_status(self) -> None:
        count = len(self.records)
        if count == 0:
            self._set_status("no calls match")
            return
        more = "scroll down (or n) for more" if self.next_query and count < MAX_LOADED else "all results loaded"
        if self.next_query and count >= MAX_LOADED:
            more = f"showing the first {MAX_LOADED}; narrow the search to see others"
        of = f" of {self.total:,}" if self.total is not None else ""
        self._set_status(f"{count:,}{of} calls loaded ({self.pages} page{'s' * (self.pages != 1)}) · {more}")

    def action_more(self) -> None:
        if self.searching or self.next_query is None or len(self.records) >= MAX_LOADED:
            return
        self._set_status(f"{len(self.records):,} calls loaded · loading the next page …")
        self._search(self.next_query, False, self._generation)

    def on_data_table_row_highlighted(self, event: VimTable.RowHighlighted) -> None:
        table = self.query_one("#calllog-table", VimTable)
        if event.cursor_row >= table.row_count - 5:
            self.action_more()

    def _scrolled(self, value: float) -> None:
        table = self.query_one("#calllog-table", VimTable)
        if table.max_scroll_y and value >= table.max_scroll_y - 3:
            self.action_more()

    def action_focus_form(self) -> None:
        self.query_one("#q-customer", Input).focus()

    # ---- export ----------------------------------------------------------------------------

    def action_export(self) -> None:
        """Ask where to write the search (all of it, not only the loaded pages), then write it."""
        query = self.query_used
        if query is None:
            self._set_status("run a search first (ctrl+s): the export writes what it matched")
            return
        name = default_export_name(query, datetime.now(time_format().zone))
        counted = f"{self.total:,} calls" if self.total is not None else "every call"
        narrowed = f", narrowed by the filter “{self.view.text}”" if self.view.text else ""
        note = (f"Writes {counted} the search matched{narrowed}: every page, not only the "
                f"{len(self.records):,} loaded. Raw values (full call ids and links, seconds, numbers as "
                f"Knowlarity sends them), times in {time_format().label()}.")
        form: FormScreen[Path] | None = None

        def build(values: Values) -> Path:
            """The file to write, checked before any request is made (an ExportError in words)."""
            try:
                return resolve_export_path(values.get("path", ""), name, replace=values.get("replace") == "true")
            except ExportError as exc:
                raise ValueError(str(exc)) from None

        async def write(path: Path) -> str | None:
            def progress(fetched: int, total: int | None) -> None:
                if form is not None and form.is_attached:
                    form.show_error(f"writing … {fetched:,}{f' of {total:,}' if total is not None else ''} calls")

            keep = self._shown if self.view.text else None
            pages = self.capp.actions.call_log_pages(export_query(query, self.searched_at + timedelta(seconds=1)))
            try:
                result = await export_call_log(pages, path, times=time_format(), keep=keep, progress=progress)
            except ExportError as exc:
                return str(exc)
            self.last_export = result.path
            short = ""
            if result.total is not None and result.fetched < result.total:
                short = f" (the server counted {result.total:,} but returned {result.fetched:,}: narrow the search)"
            message = f"wrote {result.rows:,} call{'s' * (result.rows != 1)} to {result.path}{short}"
            self._set_status(self._status, note=message)
            self.notify(message, title="CSV export", timeout=8)
            return None

        form = FormScreen("Export this search to CSV", [
            FormField("path", "file", value=str(default_export_path(name))),
            FormField("replace", "replace if it exists", check=True),
        ], build=build, submit_label="Export", submit=write, note=note)
        self.capp.push_screen(form)

    # ---- details ---------------------------------------------------------------------------

    def _selected(self) -> CallLogRecord | None:
        key = self.query_one("#calllog-table", VimTable).selected_key
        return self.records.get(key) if key else None

    def selected_number(self) -> str | None:
        record = self._selected()
        return record.customer_number if record else None

    def on_data_table_row_selected(self, event: VimTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_details(self) -> None:
        record = self._selected()
        if record is None or not record.uuid:
            return
        screen = DetailScreen(f"Call {record.uuid}", [("start", fmt_dt(record.start_time))], note="loading …",
                              number=record.customer_number, recording=record.recording_url)
        self.capp.push_screen(screen)
        self._load_detail(record, screen)

    @work(group="calllog-detail", exclusive=True, exit_on_error=False)
    async def _load_detail(self, record: CallLogRecord, screen: DetailScreen) -> None:
        try:
            fields, recording = await self.capp.actions.call_detail(record.uuid or "", record)
        except ActionError as exc:
            screen.update_fields(screen.fields, note=f"could not load the call: {exc}")
            return
        if not recording:
            screen.no_recording_reason = "no recording for this call (not recorded, or not answered)"
        screen.update_fields(fields, recording=recording, note="")

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Call log: search", "run the search in the form", self.action_search)
        yield ("Call log: next page", "the next page (by offset)", self.action_more)
        yield ("Call log: details of the selected call", "detailed call log and recording", self.action_details)
        yield ("Call log: clear the form", "", self.clear_form)
        yield ("Call log: export the search to CSV", "every row it matched, all pages", self.action_export)
