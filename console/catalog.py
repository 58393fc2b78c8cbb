"""What the console does with the account's outbound side: numbers, phonebooks, sounds,
campaigns and call-center orders.

Like `console.actions`, this is the verbs, not the looks: each method talks to the client,
updates `ConsoleState` (campaigns, phonebooks, sounds are PolledStates the views render)
and turns every failure into one `ActionError` line in the user's words. Requests come in
typed (`console.form_models` builds them from what was typed); status rules come from
`console.state.campaign_allows`, the same rules the views use to offer a key at all.

Buying a number, creating a campaign or an order, and adding numbers ring or cost real
money: they are sent once (the client never retries them) and the views confirm first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from console.actions import ActionError, describe_error
from console.api.models import AvailableNumber, Circle
from console.api.requests import CampaignFilter, NewCampaign, NewOrder
from console.form_models import (
    AddCall,
    AvailableFilter,
    BuyNumber,
    CampaignNumbers,
    CampaignStatusChange,
    NewPhonebook,
    NewSound,
    PlanChoice,
)
from console.state import CampaignRow, ConsoleState, ItemRow, campaign_allows

log = logging.getLogger("console.catalog")

Choice = tuple[str, str]  # (label, value) for a picker

COUNTRIES = (
    "India", "Australia", "Austria", "Belgium", "Brazil", "Canada", "France", "Germany", "Liechtenstein",
    "Luxembourg", "Malaysia", "Monaco", "Netherlands", "New Zealand", "Nigeria", "Philippines", "Singapore",
    "South Africa", "Switzerland", "Thailand", "Turkey", "UK", "United Arab Emirates", "US", "Western Europe",
)
RATINGS = (("any (Regular)", ""), ("all ratings (-1)", "-1"), ("Platinum (5)", "5"), ("Diamond (4)", "4"),
           ("Gold (3)", "3"), ("Silver (2)", "2"), ("Fancy (1)", "1"), ("Regular (0)", "0"))
RATING_NAMES = {5: "Platinum", 4: "Diamond", 3: "Gold", 2: "Silver", 1: "Fancy", 0: "Regular", -1: "any"}


def _fail(exc: BaseException) -> ActionError:
    return ActionError(describe_error(exc))


class Catalog:
    """Numbers, phonebooks, sounds, campaigns and orders of the account."""

    def __init__(self, client: Any, state: ConsoleState, *, clock: Callable[[], float]) -> None:
        self.client = client
        self.state = state
        self.clock = clock
        self.campaign_filter: CampaignFilter = CampaignFilter()

    # -- campaigns and orders ---------------------------------------------------------------

    async def load_campaigns(self, filters: CampaignFilter | None = None, label: str | None = None) -> None:
        """Read every campaign (every page) with `filters` (kept for the next reloads)."""
        if filters is not None:
            self.campaign_filter = filters
            self.state.campaigns.filter_label = label or ""
        try:
            page = await self.client.list_campaigns(self.campaign_filter)
        except Exception as exc:  # shown in the view
            self.state.campaigns.failed(describe_error(exc))
            return
        self.state.campaigns.replace(
            CampaignRow(str(c.order_id or i), c.order_status or "", c) for i, c in enumerate(page.objects))

    def campaign(self, order_id: str) -> CampaignRow | None:
        return self.state.campaigns.items.get(order_id)

    def _require(self, order_id: str, action: str, verb: str) -> None:
        row = self.campaign(order_id)
        if row is not None and not row.allows(action):
            raise ActionError(f"campaign {order_id} is {row.status or 'in an unknown state'}: it cannot be {verb}")

    async def create_campaign(self, campaign: NewCampaign) -> str:
        try:
            result = await self.client.create_campaign(campaign)
        except Exception as exc:
            raise _fail(exc) from None
        return f"{result.result or 'campaign created'} (order {result.order_id})"

    async def create_order(self, order: NewOrder) -> str:
        try:
            result = await self.client.create_order(order)
        except Exception as exc:
            raise _fail(exc) from None
        return f"{result.result or 'order created'} (order {result.order_id})"

    async def set_campaign_status(self, request: CampaignStatusChange) -> str:
        order_id, status = request.order_id, request.status
        self._require(order_id, status, {"pause": "paused", "resume": "resumed", "stop": "stopped"}[status])
        try:
            result = await self.client.set_campaign_status(order_id, status)
        except Exception as exc:
            raise _fail(exc) from None
        return result.message or f"campaign {order_id}: {status}"

    async def add_campaign_numbers(self, request: CampaignNumbers) -> str:
        order_id, numbers = request.order_id, list(request.numbers)
        self._require(order_id, "add_numbers", "given more numbers (only Pending or In Progress ones can)")
        try:
            result = await self.client.add_campaign_numbers(order_id, numbers)
        except Exception as exc:
            raise _fail(exc) from None
        dnd = f", {result.dnd_count} on the Do-Not-Call list" if result.dnd_count else ""
        return f"{result.message or 'numbers added'}{dnd}"

    async def add_call_to_order(self, request: AddCall) -> str:
        self._require(request.order_id, "add_numbers", "given more calls (only Pending or In Progress ones can)")
        try:
            result = await self.client.add_call_to_order(
                request.order_id, request.phone_numbers, call_times_retry=request.call_times_retry,
                retry_timedelta=request.retry_timedelta)
        except Exception as exc:
            raise _fail(exc) from None
        return result.result or "call added"

    # -- phonebooks and sounds --------------------------------------------------------------

    async def load_phonebooks(self) -> None:
        try:
            page = await self.client.list_phonebooks()
        except Exception as exc:
            self.state.phonebooks.failed(describe_error(exc))
            return
        self.state.phonebooks.replace(ItemRow(str(p.id or i), p) for i, p in enumerate(page.objects))

    async def load_sounds(self) -> None:
        try:
            page = await self.client.list_sounds()
        except Exception as exc:
            self.state.sounds.failed(describe_error(exc))
            return
        self.state.sounds.replace(ItemRow(str(s.id or i), s) for i, s in enumerate(page.objects))

    async def upload_phonebook(self, book: NewPhonebook) -> str:
        try:
            result = await self.client.upload_phonebook(book.name, book.numbers.numbers)
        except Exception as exc:
            raise _fail(exc) from None
        message = "; ".join(result.msg) or "phonebook added"
        return f"{message} (id {result.id}): {book.numbers.summary()}"

    async def upload_sound(self, sound: NewSound) -> str:
        try:
            result = await self.client.upload_sound(sound.name, sound.url, language=sound.language,
                                                    description=sound.description)
        except Exception as exc:
            raise _fail(exc) from None
        message = "; ".join(result.msg) or "sound added"
        return f"{message} (id {result.id}, {result.status_label.lower()})"

    async def sound_choices(self) -> list[Choice]:
        """Approved sounds for a picker (only those can be used in campaigns, say the docs)."""
        await self.load_sounds()
        return [(f"{r.item.soundname or r.id} (sound {r.id})", r.id)
                for r in self.state.sounds.items.values() if r.item.approved]

    async def phonebook_choices(self) -> list[Choice]:
        await self.load_phonebooks()
        out = []
        for r in self.state.phonebooks.items.values():
            rows = r.item.row_count
            out.append((f"{r.item.phonebookname or r.id} ({rows if rows is not None else '?'} numbers, id {r.id})", r.id))
        return out

    # -- numbers ----------------------------------------------------------------------------

    async def circles(self, country: str | None) -> list[Circle]:
        try:
            return await self.client.list_circles(country=country or None)
        except Exception as exc:
            raise _fail(exc) from None

    async def available(self, query: AvailableFilter) -> list[AvailableNumber]:
        try:
            return await self.client.available_numbers(
                query.circle_id, cli_type=query.cli_type, number_rating=query.number_rating,
                number_type=query.number_type, pattern=query.pattern)
        except Exception as exc:
            raise _fail(exc) from None

    async def bought_numbers(self) -> list[Any]:
        try:
            return list((await self.client.list_numbers()).objects)
        except Exception as exc:
            raise _fail(exc) from None

    async def plan_choices(self) -> dict[str, PlanChoice]:
        """The account's plans by id (every page), for the buy form and the order form."""
        try:
            page = await self.client.list_plans()
        except Exception as exc:
            raise _fail(exc) from None
        now = datetime.fromtimestamp(self.clock()).astimezone()
        out: dict[str, PlanChoice] = {}
        for p in page.objects:
            if p.userplan_id is None:
                continue
            active = p.is_active is not False and (p.expiry_time is None or p.expiry_time > now)
            out[str(p.userplan_id)] = PlanChoice(userplan_id=str(p.userplan_id),
                                                 name=f"{p.plan_name or 'plan'} ({p.plan_type_label})",
                                                 expiry=p.expiry_time, active=active)
        return out

    async def buy_number(self, request: BuyNumber) -> str:
        """Never retried (the client sends POST numbers once): a retry could buy twice."""
        try:
            result = await self.client.buy_number(
                request.number, user_plan_id=request.user_plan_id, expiry_time=request.expiry_time,
                cli_type="OUTGOING" if request.cli_outgoing else None)
        except Exception as exc:
            raise _fail(exc) from None
        return f"{result.message or 'number bought'}: {result.number or request.number}"

    def allowed(self, order_id: str, action: str) -> bool:
        row = self.campaign(order_id)
        return row is not None and campaign_allows(row.status, action)
