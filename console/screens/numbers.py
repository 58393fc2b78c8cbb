"""8 Numbers: circles of a country, the numbers on offer there, buying one, the bought ones.

The path a number takes in the API guide: GET numbers/Circle (a country's telco circles) ->
GET numbers/AvailablePhoneNumbers (one circle, with every documented filter: outgoing
caller id, star rating incl. -1 for all, number type, a starts/contains/ends pattern) ->
POST numbers (for a plan, until an expiry no later than the plan's) -> GET numbers.

Buying costs money: the dialog checks the expiry against the plan first, shows what will
happen, and a second press sends it, once (the client never retries a buy).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Select

from console.actions import ActionError, describe_error, fmt_dt
from console.catalog import COUNTRIES, RATING_NAMES, RATINGS
from console.display import number_kind
from console.form_models import AvailableFilterForm, BuyNumber, BuyNumberForm, PlanChoice, plan_default_expiry
from console.look import generation
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.forms import FormField
from console.screens.request_form import RequestForm
from console.widgets.plain import plain
from console.widgets.table import VimTable

NUMBER_TYPES = [("any type", ""), ("mobile", "mobile"), ("landline", "landline"), ("toll-free", "tollfree")]
MATCHES = [("contains", "contains"), ("starts with", "starts"), ("ends with", "ends")]


class NumbersScreen(ViewScreen):
    VIEW_TITLE = "Numbers"

    DEFAULT_CSS = """
    #numbers-pane { height: 1fr; }
    .numbers-filters { height: 1; }
    .numbers-filters > * { margin-right: 1; }
    .numbers-filters Select { width: 20; }
    #numbers-country { width: 24; }
    #numbers-digits { width: 16; }
    #circles-table { height: 1fr; max-height: 8; }
    #available-table { height: 2fr; }
    #bought-table { height: 1fr; }
    """

    BINDINGS = [
        Binding("enter", "open", "circle's numbers / buy", id="numbers.open"),
        Binding("b", "buy", "buy", id="numbers.buy"),
        Binding("f", "focus_filters", "filters", id="numbers.filters"),
        Binding("r", "reload", "reload", id="numbers.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.circles: dict[str, Any] = {}
        self.available: dict[str, Any] = {}
        self.bought: list[Any] = []
        self.circle_id: str | None = None
        self.status = ""
        self._version = 0
        self._shown: tuple[int, str, int] | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="numbers-pane"):
            with Horizontal(id="numbers-filters", classes="numbers-filters"):
                yield Select([(c, c) for c in COUNTRIES], value="India", allow_blank=False, id="numbers-country",
                             compact=True)
                yield Checkbox("outgoing caller id", value=False, id="numbers-cli", compact=True)
                yield Select(list(RATINGS), value="", allow_blank=False, id="numbers-rating", compact=True)
            with Horizontal(id="numbers-filters-2", classes="numbers-filters"):
                yield Select(NUMBER_TYPES, value="", allow_blank=False, id="numbers-type", compact=True)
                yield Select(MATCHES, value="contains", allow_blank=False, id="numbers-match", compact=True)
                yield Input(placeholder="digits", id="numbers-digits", compact=True)
                yield Button("Search", id="numbers-search", compact=True)
            yield Label("Circles", id="circles-title", classes="pane-title")
            yield VimTable([("id", "Circle id", 10), ("city", "Circle", 30)], id="circles-table")
            yield Label("Available numbers: choose a circle (enter)", id="available-title", classes="pane-title")
            yield VimTable([("number", "Number", 16), ("type", "Type", 10), ("rating", "Rating", 10),
                            ("provider", "Provider", 18), ("circle", "Circle", 8)], id="available-table")
            yield Label("Numbers bought", id="bought-title", classes="pane-title")
            yield VimTable([("number", "Number", 16), ("type", "Type", 6), ("cli", "CLI", 10), ("rating", "Rating", 8),
                            ("created", "Bought", 16), ("expiry", "Expires", 16), ("expired", "Expired", 8)],
                           id="bought-table")

    def on_mount(self) -> None:
        self.query_one("#circles-table", VimTable).focus()
        self.action_reload()

    def focus_main(self) -> None:
        self.query_one("#circles-table", VimTable).focus()

    # ---- loading ----------------------------------------------------------------------------

    def _changed(self, status: str | None = None) -> None:
        if status is not None:
            self.status = status
        self._version += 1
        self.refresh_view(self.capp.clock())

    @work(group="numbers", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        country = str(self.query_one("#numbers-country", Select).value)
        try:
            circles = await self.capp.catalog.circles(country)
        except ActionError as exc:
            circles = []
            self.status = f"circles: {exc}"
        else:
            self.status = ""
        self.circles = {str(c.id): c for c in circles}
        try:
            self.bought = await self.capp.catalog.bought_numbers()
        except ActionError as exc:
            self.status = f"{self.status}; bought numbers: {exc}".strip("; ")
        self._changed()

    @on(Select.Changed, "#numbers-country")
    def _country(self, event: Select.Changed) -> None:
        self.circle_id = None
        self.available = {}
        self.action_reload()

    @on(Button.Pressed, "#numbers-search")
    @on(Input.Submitted, "#numbers-digits")
    def _search(self) -> None:
        if self.circle_id is None:
            key = self.query_one("#circles-table", VimTable).selected_key
            self.circle_id = key
        self.load_available()

    def filter_form(self) -> AvailableFilterForm:
        def value(widget_id: str) -> str:
            v = self.query_one(widget_id, Select).value
            return "" if v is Select.BLANK else str(v)

        return AvailableFilterForm(
            circle_id=self.circle_id or "", cli="true" if self.query_one("#numbers-cli", Checkbox).value else "false",
            rating=value("#numbers-rating"), number_type=value("#numbers-type"), match=value("#numbers-match"),
            digits=self.query_one("#numbers-digits", Input).value.strip(),
        )

    @work(group="numbers-available", exclusive=True, exit_on_error=False)
    async def load_available(self) -> None:
        try:
            query = self.filter_form().to_request()
        except Exception as exc:  # noqa: BLE001 - a filter that does not read, in words
            self._changed(f"⚠ {describe_error(exc)}")
            return
        self._changed("searching …")
        try:
            numbers = await self.capp.catalog.available(query)
        except ActionError as exc:
            self.available = {}
            self._changed(f"⚠ {exc}")
            return
        self.available = {str(n.number): n for n in numbers if n.number}
        self._changed("")
        if self.available:
            self.query_one("#available-table", VimTable).focus()

    # ---- drawing ----------------------------------------------------------------------------

    def refresh_view(self, now: float) -> None:
        view = self.view
        key = (self._version, view.text, generation())
        if key == self._shown:
            return
        self._shown = key
        self.query_one("#circles-table", VimTable).sync_rows([
            (cid, (cid, c.city or "")) for cid, c in self.circles.items() if view.matches_text(cid, c.city)
        ])
        self.query_one("#available-table", VimTable).sync_rows([
            (n, (n, (a.number_type or "").lower(), RATING_NAMES.get(a.number_rating, str(a.number_rating or "")),
                 a.provider_name or "", str(a.circle_id or "")))
            for n, a in self.available.items() if view.matches_text(n, a.provider_name, a.number_type)
        ])
        self.query_one("#bought-table", VimTable).sync_rows([
            (str(b.phone_number or i), (b.phone_number or "?", number_kind(b.phone_number), b.cli_type or "",
                                        "" if b.number_rating in (None, -1) else RATING_NAMES.get(
                                            b.number_rating, str(b.number_rating)),
                                        fmt_dt(b.created_time), fmt_dt(b.expiry_time),
                                        Text("expired", style="dim") if b.is_expired else Text("active")))
            for i, b in enumerate(self.bought) if view.matches_text(b.phone_number, b.cli_type)
        ])
        country = self.query_one("#numbers-country", Select).value
        title = f"Circles of {country}: {len(self.circles)}   enter lists a circle's numbers · f filters"
        self.query_one("#circles-title", Label).update(plain(title))
        circle = self.circles.get(self.circle_id or "")
        where = f"in {circle.city} ({self.circle_id})" if circle is not None else ""
        available = (f"Available numbers {where}: {len(self.available)}   b or enter buys the selected one"
                     if self.circle_id else "Available numbers: choose a circle (enter)")
        if self.status:
            available += f"   {self.status}"
        self.query_one("#available-title", Label).update(plain(available))
        self.query_one("#bought-title", Label).update(plain(f"Numbers bought: {len(self.bought)}"))
        self.refresh_bindings()

    # ---- keys -----------------------------------------------------------------------------------

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "buy":
            return self.query_one("#available-table", VimTable).selected_key is not None
        return True

    def on_data_table_row_highlighted(self, event: VimTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: VimTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        circles = self.query_one("#circles-table", VimTable)
        if self.focused is self.query_one("#available-table", VimTable):
            self.action_buy()
            return
        key = circles.selected_key
        if key is not None:
            self.circle_id = key
            self.load_available()

    def action_focus_filters(self) -> None:
        self.query_one("#numbers-digits", Input).focus()

    def selected_number(self) -> str | None:
        return None

    def action_buy(self) -> None:
        number = self.query_one("#available-table", VimTable).selected_key
        if number is not None:
            self._open_buy(number)

    @work(group="numbers-buy", exclusive=True, exit_on_error=False)
    async def _open_buy(self, number: str) -> None:
        try:
            plans = await self.capp.catalog.plan_choices()
        except ActionError as exc:
            self.capp.notify(f"plans: {exc}", severity="error", timeout=6)
            return
        usable = {pid: p for pid, p in plans.items() if p.active}
        if not usable:
            self.capp.notify("no active plan to buy a number for", severity="error", timeout=6)
            return
        first: PlanChoice = next(iter(usable.values()))
        choices = [(f"{p.name} {pid} (until {p.expiry:%Y-%m-%d})" if p.expiry else f"{p.name} {pid}", pid)
                   for pid, p in usable.items()]

        def build(values: dict[str, str]) -> BuyNumber:
            return BuyNumberForm.model_validate(values).to_request(plans)

        def confirm(request: BuyNumber) -> str:
            cli = " as an outgoing caller id" if request.cli_outgoing else ""
            return (f"Buy {request.number}{cli} for plan {request.user_plan_id} until "
                    f"{request.expiry_time:%Y-%m-%d %H:%M}? This is charged to the account; press again to buy.")

        async def submit(request: BuyNumber) -> str | None:
            try:
                message = await self.capp.catalog.buy_number(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title="number bought", timeout=6)
            self.available.pop(request.number, None)
            self.action_reload()
            return None

        self.capp.push_screen(RequestForm(
            f"Buy {number}",
            [
                FormField("number", "Number", value=number, required=True),
                FormField("user_plan_id", "Plan", choices=choices, value=first.userplan_id),
                FormField("expiry", "Expires", value=plan_default_expiry(first),
                          placeholder="YYYY-MM-DD [HH:MM], at most the plan's expiry"),
                FormField("cli", "Outgoing caller id", check=True, value="false"),
            ],
            build=build, submit=submit, submit_label="Buy", confirm=confirm,
            note="The expiry must be in the future and no later than the plan's (the API guide's rule). "
                 "Sent once, never retried.",
        ))

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Numbers: reload circles and bought numbers", "", self.action_reload)
        yield ("Numbers: search the selected circle", "available numbers with the filters", self.load_available)
        if self.query_one("#available-table", VimTable).selected_key is not None:
            yield ("Numbers: buy the selected number", "for a plan, until an expiry", self.action_buy)
