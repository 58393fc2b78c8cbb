"""6 Campaigns: the account's outbound campaigns and call-center orders.

A supervisor's view. The list is every campaign (every page), narrowed by the documented
filters (f: order id, IVR, phonebook, transactional, created/start/end dates). New campaign
(n) and new call-center order (O) ask for every documented field, with pickers of the
approved sounds and of the phonebooks instead of bare ids. A key is offered only where the
documentation allows it (console.state.campaign_allows): pause and stop a Pending or In
Progress campaign, resume a Paused one, add numbers (a) or calls with retries (A) only to
a Pending or In Progress one. Every change is confirmed; the list reloads after it so the
status shown is the server's. The docs give no field telling an order from a campaign in
the list, so both adds are offered on any row that takes numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from console.actions import ActionError, fmt_dt, model_fields
from console.catalog import Choice
from console.form_models import (
    WEEKDAYS,
    AddCall,
    AddCallForm,
    CampaignFilterForm,
    CampaignForm,
    CampaignNumbers,
    CampaignStatusChange,
    OrderForm,
    default_start,
)
from console.look import generation, look
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.detail import DetailScreen
from console.screens.forms import FormField, FormScreen
from console.screens.request_form import RequestForm, Row
from console.state import CampaignRow, campaign_status_key
from console.widgets.plain import plain
from console.widgets.table import VimTable

STATUS_STYLES = {  # console.look roles
    "pending": "warn",
    "in progress": "bold good",
    "paused": "accent",
    "stopped": "dim",
    "completed": "dim info",
}
TIMEZONES = [(z, z) for z in ("Asia/Kolkata", "Asia/Dubai", "Asia/Singapore", "UTC")]


def campaign_cells(c: Any) -> tuple[Text | str, ...]:
    status = c.order_status or "?"
    return (
        Text(str(c.order_id or "?"), style="bold"),
        Text(status, style=look(STATUS_STYLES.get(campaign_status_key(status), ""))),
        c.ivr or str(c.ivr_id or ""),
        str(c.phonebook_id or ""),
        fmt_dt(c.start_time),
        fmt_dt(c.end_time) or Text("—", style="dim"),
        Text(str(c.total_calls or 0), justify="right"),
        c.order_throttling or "",
        Text(str(c.priority or ""), justify="right"),
        Text("transactional" if c.is_transactional else "promotional", style="dim"),
    )


def _days_row() -> tuple[FormField, ...]:
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return tuple(FormField(day, name, placeholder="Weekdays" if i == 0 else "", value="true" if i < 5 else "false")
                 for i, (day, name) in enumerate(zip(WEEKDAYS, names, strict=True)))


class CampaignsScreen(ViewScreen):
    VIEW_TITLE = "Campaigns"

    BINDINGS = [
        Binding("enter", "details", "details", id="campaigns.details"),
        Binding("n", "new", "new campaign", id="campaigns.new"),
        Binding("O", "new_order", "new order", id="campaigns.new_order"),
        Binding("f", "filters", "filters", id="campaigns.filters"),
        Binding("a", "add_numbers", "add numbers", id="campaigns.add_numbers"),
        Binding("A", "add_call", "add call (order)", id="campaigns.add_call"),
        Binding("z", "set_status('pause')", "pause", id="campaigns.pause"),
        Binding("u", "set_status('resume')", "resume", id="campaigns.resume"),
        Binding("x", "set_status('stop')", "stop", id="campaigns.stop"),
        Binding("r", "reload", "reload", id="campaigns.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[int, str, int] | None = None
        self._filters = CampaignFilterForm()

    @property
    def campaigns(self) -> dict[str, CampaignRow]:
        return self.capp.state.campaigns.items

    def compose_body(self) -> ComposeResult:
        with Vertical(id="campaigns-pane"):
            yield Label("Campaigns", id="campaigns-title", classes="pane-title")
            yield VimTable(
                [("id", "Order", 7), ("status", "Status", 12), ("ivr", "IVR / sound", 18), ("book", "Book", 5),
                 ("start", "Start", 16), ("end", "End", 16), ("calls", "Calls", 6), ("throttle", "In flight", 9),
                 ("prio", "Prio", 4), ("kind", "Kind", 13)],
                id="campaigns-table",
            )

    def on_mount(self) -> None:
        self.focus_main()
        self.action_reload()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.campaigns:
            self.action_reload()

    def focus_main(self) -> None:
        self.query_one("#campaigns-table", VimTable).focus()

    @work(group="campaigns", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        await self.capp.catalog.load_campaigns()
        self.refresh_view(self.capp.clock())

    def refresh_view(self, now: float) -> None:
        state, view = self.capp.state.campaigns, self.view
        key = (state.version, view.text, generation())
        if key == self._shown:
            return
        self._shown = key
        rows = state.rows(view)
        self.query_one("#campaigns-table", VimTable).sync_rows([(r.id, campaign_cells(r.item)) for r in rows])
        title = f"Campaigns and orders: {len(rows)}"
        if state.filter_label:
            title += f"   filtered: {state.filter_label} (f changes)"
        if state.error:
            title += f"   ⚠ {state.error}"
        self.query_one("#campaigns-title", Label).update(plain(title))
        self.refresh_bindings()

    def _selected(self) -> CampaignRow | None:
        key = self.query_one("#campaigns-table", VimTable).selected_key
        return self.campaigns.get(key) if key else None

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("add_numbers", "add_call", "set_status", "details"):
            row = self._selected()
            if row is None:
                return False
            if action == "set_status":
                return row.allows(str(parameters[0]) if parameters else "")
            if action in ("add_numbers", "add_call"):
                return row.allows("add_numbers")
        return True

    def on_data_table_row_highlighted(self, event: VimTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: VimTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_details(self) -> None:
        row = self._selected()
        if row is not None:
            self.capp.push_screen(DetailScreen(f"Campaign {row.id}", model_fields(row.item), note="esc close"))

    # ---- filters ---------------------------------------------------------------------------

    def action_filters(self) -> None:
        f = self._filters

        def build(values: dict[str, str]) -> tuple[CampaignFilterForm, Any]:
            form = CampaignFilterForm.model_validate(values)
            return form, form.to_request()

        async def submit(result: tuple[CampaignFilterForm, Any]) -> str | None:
            form, query = result
            self._filters = form
            await self.capp.catalog.load_campaigns(query, form.describe())
            self.refresh_view(self.capp.clock())
            return self.capp.state.campaigns.error

        self.capp.push_screen(RequestForm(
            "Filter campaigns",
            [
                FormField("order_id", "Order id", value=f.order_id),
                FormField("ivr_id", "IVR / sound id", value=f.ivr_id),
                FormField("phonebook_id", "Phonebook id", value=f.phonebook_id),
                FormField("is_transactional", "Kind", value=f.is_transactional,
                          choices=[("any", ""), ("transactional", "true"), ("promotional", "false")]),
                FormField("created_from", "Created from", value=f.created_from, placeholder="YYYY-MM-DD [HH:MM]"),
                FormField("created_to", "Created to", value=f.created_to, placeholder="YYYY-MM-DD [HH:MM]"),
                FormField("start_from", "Starts from", value=f.start_from, placeholder="YYYY-MM-DD [HH:MM]"),
                FormField("start_to", "Starts to", value=f.start_to, placeholder="YYYY-MM-DD [HH:MM]"),
                FormField("end_from", "Ends from", value=f.end_from, placeholder="YYYY-MM-DD [HH:MM]"),
                FormField("end_to", "Ends to", value=f.end_to, placeholder="YYYY-MM-DD [HH:MM]"),
            ],
            build=build, submit=submit, submit_label="Apply",
            note="Every filter the campaign list documents; blank ones are not sent. Clear them all to list every campaign.",
        ))

    # ---- new campaign / new order ------------------------------------------------------------

    def _common_rows(self, sounds: list[Choice], books: list[Choice]) -> list[Row]:
        k_number = self.capp.actions.default_k_number or ""
        return [
            FormField("sound_id", "Sound", choices=[("— none: an IVR id below —", ""), *sounds],
                      value=sounds[0][1] if sounds else ""),
            FormField("ivr_id", "or IVR id", placeholder="an IVR flow id instead of a sound"),
            FormField("k_number", "SR number", value=k_number, required=True, placeholder="+91… (Enterprise plan)"),
            FormField("phonebook", "Phonebook", choices=[("— none: numbers below —", ""), *books]),
            FormField("additional_number", "Numbers", placeholder="+91…; +91…  (besides the phonebook's)"),
            FormField("start_time", "Start", value=default_start(), required=True, placeholder="YYYY-MM-DD HH:MM"),
            FormField("end_time", "End", placeholder="optional, YYYY-MM-DD HH:MM"),
            FormField("timezone", "Timezone", choices=TIMEZONES, value="Asia/Kolkata"),
            FormField("priority", "Priority", placeholder="1-10"),
            FormField("order_throttling", "Max parallel calls", placeholder="calls at once"),
            _days_row(),
            FormField("call_scheduling_start_time", "Daily start", placeholder="09:00 (default)"),
            FormField("call_scheduling_stop_time", "Daily stop", placeholder="21:00 (default)"),
            FormField("is_transactional", "Transactional", check=True, value="false"),
        ]

    @staticmethod
    def _confirm(what: str) -> Any:
        def confirm(request: Any) -> str:
            body = request.to_body()
            target = f"sound {body['sound_id']}" if "sound_id" in body else f"IVR {body.get('ivr_id')}"
            book = f" phonebook {body['phonebook']}" if body.get("phonebook") else ""
            numbers = body.get("additional_number") or ""
            count = len([n for n in numbers.split(";") if n])
            extra = f" + {count} number{'s' * (count != 1)}" if count else ""
            return (f"Create this {what}: {target} to{book}{extra}, from {body['start_time']} ({body['timezone']}), "
                    f"{'transactional' if request.is_transactional else 'promotional'}? It calls real people; "
                    "press again to create it (sent once, never retried).")

        return confirm

    def action_new(self) -> None:
        self._open_new(order=False)

    def action_new_order(self) -> None:
        self._open_new(order=True)

    @work(group="campaigns-form", exclusive=True, exit_on_error=False)
    async def _open_new(self, order: bool) -> None:
        catalog = self.capp.catalog
        sounds = await catalog.sound_choices()
        books = await catalog.phonebook_choices()
        rows = self._common_rows(sounds, books)
        plans: list[Choice] = []
        if order:
            try:
                choices = await catalog.plan_choices()
            except ActionError:
                choices = {}
            plans = [(f"{p.name} {pid}", pid) for pid, p in choices.items() if p.active]
            rows += [
                FormField("ivr_disp_num", "Ivr_disp_num", value=self.capp.actions.default_k_number or "",
                          required=True, placeholder="SR number of the Enterprise SIVR plan"),
                FormField("user_plan_id", "Plan", choices=[("— not sent —", ""), *plans]),
            ]
        else:
            rows += [
                FormField("retry_duration", "Retry after (min)", placeholder="minutes between two tries"),
                FormField("max_retry", "Max retries", placeholder="tries after a failed call"),
            ]
        model = OrderForm if order else CampaignForm
        what = "call-center order" if order else "campaign"

        def build(values: dict[str, str]) -> Any:
            return model.model_validate(values).to_request()

        async def submit(request: Any) -> str | None:
            try:
                if order:
                    message = await catalog.create_order(request)
                else:
                    message = await catalog.create_campaign(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title=what, timeout=6)
            self.action_reload()
            return None

        note = ("Only approved sounds are listed (the docs allow no other). "
                if sounds else "No approved sound yet (see Library, 9): give an IVR id. ")
        self.capp.push_screen(RequestForm(
            f"New {what}", rows, build=build, submit=submit, submit_label="Create", confirm=self._confirm(what),
            note=note + ("Outbound call-center order (outbound_callcenter=1)." if order else "")))

    # ---- changing one ---------------------------------------------------------------------------

    def action_add_numbers(self) -> None:
        row = self._selected()
        if row is None or not row.allows("add_numbers"):
            return
        order_id = row.id

        async def submit(request: CampaignNumbers) -> str | None:
            try:
                message = await self.capp.catalog.add_campaign_numbers(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title=f"campaign {order_id}", timeout=5)
            self.action_reload()
            return None

        self.capp.push_screen(FormScreen(
            f"Add numbers to campaign {order_id}",
            [FormField("numbers", "Numbers", placeholder="+91…, +91…", required=True)],
            build=lambda values: CampaignNumbers.model_validate({**values, "order_id": order_id}),
            submit_label="Add", submit=submit,
            note="Only a Pending or In Progress campaign takes numbers. Sent once.",
        ))

    def action_add_call(self) -> None:
        row = self._selected()
        if row is None or not row.allows("add_numbers"):
            return
        order_id = row.id

        def build(values: dict[str, str]) -> AddCall:
            return AddCallForm.model_validate(values).to_request(order_id)

        async def submit(request: AddCall) -> str | None:
            try:
                message = await self.capp.catalog.add_call_to_order(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title=f"order {order_id}", timeout=5)
            self.action_reload()
            return None

        self.capp.push_screen(RequestForm(
            f"Add a call to order {order_id}",
            [
                FormField("numbers", "Numbers", required=True, placeholder="+91…  (; or , between several)"),
                FormField("call_times_retry", "Retries", placeholder="times to retry an unanswered call"),
                FormField("retry_timedelta", "Retry after", placeholder="gap between retries"),
            ],
            build=build, submit=submit, submit_label="Add",
            note="PUT call-center/add_call_to_order: only a Pending or In Progress order takes calls. Sent once.",
        ))

    def action_set_status(self, status: Literal["pause", "resume", "stop"]) -> None:
        row = self._selected()
        if row is None or not row.allows(status):
            return
        order_id = row.id

        async def submit(request: CampaignStatusChange) -> str | None:
            try:
                message = await self.capp.catalog.set_campaign_status(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title=f"campaign {order_id}", timeout=5)
            self.action_reload()
            return None

        note = "Stopping cannot be undone." if status == "stop" else ""
        self.capp.push_screen(FormScreen(f"{status.capitalize()} campaign {order_id}? It is {row.status}.", [],
                                         build=lambda _: CampaignStatusChange(order_id=order_id, status=status),
                                         submit_label=status.capitalize(), submit=submit, note=note,
                                         danger=status == "stop"))

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Campaigns: new campaign", "an outbound campaign, every documented field", self.action_new)
        yield ("Campaigns: new call-center order", "an OBD call-center order", self.action_new_order)
        yield ("Campaigns: filter the list", "order, IVR, phonebook, kind, dates", self.action_filters)
        yield ("Campaigns: reload", "", self.action_reload)
        row = self._selected()
        if row is not None:
            for status, words in (("pause", ""), ("resume", ""), ("stop", "cannot be undone")):
                if row.allows(status):
                    yield (f"Campaigns: {status} the selected campaign", words,
                           lambda s=status: self.action_set_status(s))  # type: ignore[misc]
            if row.allows("add_numbers"):
                yield ("Campaigns: add numbers to the selected campaign", "", self.action_add_numbers)
                yield ("Campaigns: add a call to the selected order", "with retries", self.action_add_call)
