"""6 Campaigns: the account's outbound campaigns; create, pause, resume, stop, add numbers.

A supervisor's view. Changing a campaign is confirmed in a dialog (stopping cannot be
undone) and the list reloads after every change so the status shown is the server's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from console.actions import ActionError, fmt_dt, model_fields
from console.api.dates import IST
from console.api.models import Campaign
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.detail import DetailScreen
from console.screens.forms import FormField, FormScreen
from console.widgets.table import VimTable
from console.widgets.plain import plain

STATUS_STYLES = {
    "pending": "#d7d75f",
    "in progress": "bold #5fd75f",
    "running": "bold #5fd75f",
    "paused": "#ffaf00",
    "stopped": "dim",
    "completed": "dim #5fd7af",
}


def campaign_cells(c: Campaign) -> tuple[Text | str, ...]:
    status = c.order_status or "?"
    return (
        Text(str(c.order_id or "?"), style="bold"),
        Text(status, style=STATUS_STYLES.get(status.lower(), "")),
        c.ivr or str(c.ivr_id or ""),
        fmt_dt(c.start_time),
        fmt_dt(c.end_time) or Text("—", style="dim"),
        Text(str(c.total_calls or 0), justify="right"),
        c.order_throttling or "",
        Text(str(c.priority or ""), justify="right"),
        Text("transactional" if c.is_transactional else "promotional", style="dim"),
    )


class CampaignsScreen(ViewScreen):
    VIEW_TITLE = "Campaigns"

    BINDINGS = [
        Binding("enter", "details", "details", id="campaigns.details"),
        Binding("n", "new", "new", id="campaigns.new"),
        Binding("a", "add_numbers", "add numbers", id="campaigns.add_numbers"),
        Binding("z", "set_status('pause')", "pause", id="campaigns.pause"),
        Binding("u", "set_status('resume')", "resume", id="campaigns.resume"),
        Binding("x", "set_status('stop')", "stop", id="campaigns.stop"),
        Binding("r", "reload", "reload", id="campaigns.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.campaigns: dict[str, Campaign] = {}
        self._error: str | None = None
        self._shown: tuple[int, str] | None = None
        self._version = 0

    def compose_body(self) -> ComposeResult:
        with Vertical(id="campaigns-pane"):
            yield Label("Campaigns", id="campaigns-title", classes="pane-title")
            yield VimTable(
                [("id", "Order", 8), ("status", "Status", 12), ("ivr", "IVR / sound", 18), ("start", "Start", 16),
                 ("end", "End", 16), ("calls", "Calls", 6), ("throttle", "In flight", 9), ("prio", "Prio", 4),
                 ("kind", "Kind", 13)],
                id="campaigns-table",
            )

    def on_mount(self) -> None:
        self.focus_main()
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.campaigns:
            self.action_reload()

    def focus_main(self) -> None:
        self.query_one("#campaigns-table", VimTable).focus()

    @work(group="campaigns", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        try:
            campaigns = await self.capp.actions.list_campaigns()
        except ActionError as exc:
            self._error = str(exc)
        else:
            self._error = None
            self.campaigns = {str(c.order_id): c for c in campaigns}
        self._version += 1
        self.refresh_view(self.capp.clock())

    def refresh_view(self, now: float) -> None:
        view = self.view
        key = (self._version, view.text)
        if key == self._shown:
            return
        self._shown = key
        rows = [
            (oid, campaign_cells(c)) for oid, c in self.campaigns.items()
            if view.matches_text(oid, c.order_status, c.ivr, c.ivr_id)
        ]
        self.query_one("#campaigns-table", VimTable).sync_rows(rows)
        title = f"Campaigns: {len(rows)}"
        if self._error:
            title += f"   ⚠ {self._error}"
        self.query_one("#campaigns-title", Label).update(plain(title))
        self.refresh_bindings()

    def _selected(self) -> Campaign | None:
        key = self.query_one("#campaigns-table", VimTable).selected_key
        return self.campaigns.get(key) if key else None

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("add_numbers", "set_status", "details"):
            campaign = self._selected()
            if campaign is None:
                return False
            status = (campaign.order_status or "").lower()
            if action == "set_status":
                wanted = parameters[0] if parameters else ""
                if status in ("stopped", "completed"):
                    return False
                if wanted == "pause":
                    return status != "paused"
                if wanted == "resume":
                    return status == "paused"
            if action == "add_numbers":
                return status in ("pending", "in progress", "running", "paused", "")
        return True

    def on_data_table_row_highlighted(self, event: VimTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: VimTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_details(self) -> None:
        campaign = self._selected()
        if campaign is not None:
            self.capp.push_screen(DetailScreen(f"Campaign {campaign.order_id}", model_fields(campaign), note="esc close"))

    def action_new(self) -> None:
        start = (datetime.now(IST) + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M")

        async def submit(values: dict[str, str]) -> str | None:
            try:
                message = await self.capp.actions.create_campaign(values)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title="campaign", timeout=5)
            self.action_reload()
            return None

        self.capp.push_screen(FormScreen(
            "New campaign",
            [
                FormField("target_kind", "Plays", choices=[("an IVR (ivr_id)", "ivr_id"), ("a sound (sound_id)", "sound_id")],
                          value="ivr_id"),
                FormField("sound_or_ivr", "IVR / sound id", required=True),
                FormField("k_number", "SR number", value=self.capp.actions.default_k_number or "", required=True),
                FormField("numbers", "Numbers", placeholder="+91…; +91… (or a phonebook below)"),
                FormField("phonebook", "Phonebook id", placeholder="optional"),
                FormField("start", "Start", value=start, placeholder="YYYY-MM-DD HH:MM", required=True),
                FormField("end", "End", placeholder="optional"),
                FormField("timezone", "Timezone", value="Asia/Kolkata"),
                FormField("priority", "Priority", placeholder="1-10"),
                FormField("throttle", "Max parallel", placeholder="calls at once"),
            ],
            submit_label="Create", submit=submit,
            note="Creates the order on Knowlarity; it is never retried automatically.",
        ))

    def action_add_numbers(self) -> None:
        campaign = self._selected()
        if campaign is None:
            return
        order_id = str(campaign.order_id)

        async def submit(values: dict[str, str]) -> str | None:
            try:
                message = await self.capp.actions.add_campaign_numbers(order_id, values.get("numbers", ""))
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title=f"campaign {order_id}", timeout=5)
            self.action_reload()
            return None

        self.capp.push_screen(FormScreen(
            f"Add numbers to campaign {order_id}",
            [FormField("numbers", "Numbers", placeholder="+91…, +91…", required=True)],
            submit_label="Add", submit=submit,
        ))

    def action_set_status(self, status: Literal["pause", "resume", "stop"]) -> None:
        campaign = self._selected()
        if campaign is None:
            return
        order_id = str(campaign.order_id)

        async def submit(values: dict[str, str]) -> str | None:
            try:
                message = await self.capp.actions.set_campaign_status(order_id, status)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title=f"campaign {order_id}", timeout=5)
            self.action_reload()
            return None

        note = "Stopping cannot be undone." if status == "stop" else ""
        self.capp.push_screen(FormScreen(f"{status.capitalize()} campaign {order_id}?", [],
                                         submit_label=status.capitalize(), submit=submit, note=note))

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Campaigns: new campaign", "create an outbound campaign", self.action_new)
        yield ("Campaigns: reload", "", self.action_reload)
        if self._selected() is not None:
            yield ("Campaigns: pause the selected campaign", "", lambda: self.action_set_status("pause"))
            yield ("Campaigns: resume the selected campaign", "", lambda: self.action_set_status("resume"))
            yield ("Campaigns: stop the selected campaign", "cannot be undone", lambda: self.action_set_status("stop"))
            yield ("Campaigns: add numbers to the selected campaign", "", self.action_add_numbers)
