"""7 Account: bought numbers, plans, and live-notification registrations.

A number must be registered for notifications before make call works (the API guide
says so), so this is where click-to-call problems get fixed: register a number, enable
or disable its registration. Registration rows hold keys and app credentials; those
fields are never shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from console.actions import ActionError, fmt_dt
from console.display import number_kind
from console.form_models import NotificationSwitch, RegisterNumber
from console.look import generation, look
from console.screens.base import PaletteCommand, ViewScreen
from console.screens.forms import FormField, FormScreen
from console.widgets.plain import plain
from console.widgets.table import VimTable


def yes_no(value: object, yes: str = "yes", no: str = "no") -> Text:
    if value is None:
        return Text("—", style="dim")
    return Text(yes, style=look("good")) if value else Text(no, style="dim")


class AccountScreen(ViewScreen):
    VIEW_TITLE = "Account"

    BINDINGS = [
        Binding("n", "register", "register number", id="account.register"),
        Binding("e", "enable(True)", "enable", id="account.enable"),
        Binding("d", "enable(False)", "disable", id="account.disable"),
        Binding("r", "reload", "reload", id="account.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.numbers: list[Any] = []
        self.plans: list[Any] = []
        self.registrations: dict[str, Any] = {}
        self.errors: list[str] = []
        self._version = 0
        self._shown: tuple[int, str, int] | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="account-pane"):
            yield Label("Bought numbers", id="numbers-title", classes="pane-title")
            yield VimTable([("number", "Number", 16), ("type", "Type", 9), ("cli", "CLI", 10), ("created", "Bought", 16),
                            ("expiry", "Expires", 16), ("expired", "Expired", 8)], id="numbers-table")
            yield Label("Plans", id="plans-title", classes="pane-title")
            yield VimTable([("id", "Plan id", 10), ("name", "Plan", 24), ("type", "Type", 14), ("active", "Active", 7),
                            ("created", "Since", 16), ("expiry", "Expires", 16)], id="plans-table")
            yield Label("Live-notification registrations", id="notif-title", classes="pane-title")
            yield VimTable([("number", "SR number", 16), ("enabled", "Enabled", 8), ("expired", "Expired", 8),
                            ("app", "Application", 16), ("product", "Product", 8), ("updated", "Updated", 16),
                            ("id", "Id", 8)], id="notif-table")

    def on_mount(self) -> None:
        self.query_one("#notif-table", VimTable).focus()
        self.action_reload()

    @work(group="account", exclusive=True, exit_on_error=False)
    async def action_reload(self) -> None:
        numbers, plans, registrations, errors = await self.capp.actions.account_overview()
        self.numbers, self.plans, self.errors = numbers, plans, errors
        self.registrations = {str(r.k_number or r.id): r for r in registrations}
        self._version += 1
        self.refresh_view(self.capp.clock())

    def refresh_view(self, now: float) -> None:
        view = self.view
        key = (self._version, view.text, generation())
        if key == self._shown:
            return
        self._shown = key
        self.query_one("#numbers-table", VimTable).sync_rows([
            (str(n.phone_number or i), (n.phone_number or "?", number_kind(n.phone_number), n.cli_type or "",
                                        fmt_dt(n.created_time), fmt_dt(n.expiry_time), yes_no(n.is_expired)))
            for i, n in enumerate(self.numbers) if view.matches_text(n.phone_number, n.cli_type)
        ])
        self.query_one("#plans-table", VimTable).sync_rows([
            (str(p.userplan_id or i), (str(p.userplan_id or ""), p.plan_name or "", p.plan_type_label or "",
                                       yes_no(p.is_active), fmt_dt(p.created_date), fmt_dt(p.expiry_time)))
            for i, p in enumerate(self.plans) if view.matches_text(p.plan_name, p.plan_type, p.userplan_id)
        ])
        self.query_one("#notif-table", VimTable).sync_rows([
            (key, (r.k_number or "?", yes_no(r.enable, "enabled", "disabled"), yes_no(r.expired),
                   (r.app_type.name if r.app_type and r.app_type.name else "") or "", r.product or "",
                   fmt_dt(r.date_updated), str(r.id or "")))
            for key, r in self.registrations.items() if view.matches_text(r.k_number, r.product)
        ])
        title = f"Live-notification registrations: {len(self.registrations)}   n register · e enable · d disable"
        if self.errors:
            title += "   ⚠ " + "; ".join(self.errors)
        self.query_one("#notif-title", Label).update(plain(title))
        self.query_one("#numbers-title", Label).update(f"Bought numbers: {len(self.numbers)}")
        self.query_one("#plans-title", Label).update(f"Plans: {len(self.plans)}")
        self.refresh_bindings()

    def _selected_registration(self) -> str | None:
        table = self.query_one("#notif-table", VimTable)
        if self.focused is table:
            return table.selected_key
        numbers = self.query_one("#numbers-table", VimTable)
        if self.focused is numbers:
            return numbers.selected_key
        return table.selected_key

    def selected_number(self) -> str | None:
        return None

    def check_view_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "enable":
            key = self._selected_registration()
            reg = self.registrations.get(key) if key else None
            if reg is None:
                return False
            return bool(reg.enable) != bool(parameters and parameters[0])
        return True

    def on_data_table_row_highlighted(self, event: VimTable.RowHighlighted) -> None:
        self.refresh_bindings()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def action_register(self) -> None:
        table = self.query_one("#numbers-table", VimTable)
        suggestion = table.selected_key if self.focused is table else (self.capp.actions.default_k_number or "")

        async def submit(request: RegisterNumber) -> str | None:
            try:
                message = await self.capp.actions.register_notifications(request)
            except ActionError as exc:
                return str(exc)
            self.capp.notify(message, title="notifications", timeout=5)
            self.action_reload()
            return None

        self.capp.push_screen(FormScreen(
            "Register a number for live notifications",
            [FormField("number", "SR number", value=suggestion or "", placeholder="+91XXXXXXXXXX", required=True)],
            build=RegisterNumber.model_validate, submit_label="Register", submit=submit,
            note="Make call needs the SR number registered here first.",
        ))

    def action_enable(self, enable: bool) -> None:
        key = self._selected_registration()
        reg = self.registrations.get(key) if key else None
        if reg is None or not reg.k_number:
            return
        number = reg.k_number
        if enable:
            self._set_enabled(NotificationSwitch(number=number, enable=True))
            return

        async def submit(request: NotificationSwitch) -> str | None:
            self._set_enabled(request)
            return None

        self.capp.push_screen(FormScreen(
            f"Disable live notifications for {number}?", [], build=lambda _: NotificationSwitch(number=number, enable=False),
            submit_label="Disable", submit=submit, danger=True,
            note="While disabled, calls on this number do not reach the live board, the screen pop "
                 "or make call's progress, for every console on the account.",
        ))

    @work(group="account-set", exclusive=True, exit_on_error=False)
    async def _set_enabled(self, request: NotificationSwitch) -> None:
        try:
            message = await self.capp.actions.set_notifications(request)
        except ActionError as exc:
            self.capp.notify(str(exc), title="notifications", severity="error", timeout=6)
            return
        self.capp.notify(message, title="notifications", timeout=4)
        self.action_reload()

    def palette_commands(self) -> Iterable[PaletteCommand]:
        yield ("Account: register a number for notifications", "needed before make call works", self.action_register)
        yield ("Account: enable the selected registration", "", lambda: self.action_enable(True))
        yield ("Account: disable the selected registration", "", lambda: self.action_enable(False))
        yield ("Account: reload", "", self.action_reload)
