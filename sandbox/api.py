"""The REST API: documented paths and methods, auth as documented, documented bodies.

Every endpoint is served under /{channel}/v1/account/... (the plans endpoint also under
/{channel}/account/plans, the path its heading gives), with and without a trailing
slash, since the documentation's examples use both. The channel is Basic, Advance,
Premium or Enterprise in any letter case; "test" is accepted too because the add-numbers
example uses it, so that example runs unchanged against the sandbox.

Auth, checked on every call:
- `x-api-key` (the application access key) is checked first, as the API gateway in front
  of Knowlarity does: missing or wrong gives HTTP 403 {"message": "Forbidden"} (the docs
  give no body for this case; this is the gateway's standard answer).
- `Authorization` (the SR API key): wrong or missing gives the endpoint's documented
  answer: 401 {"message": "The SR API Key used toauthenticate is incorrect."} in general,
  401 {"error": ...} for plans, HTTP 200 {"error": {"message": "Invalid APIKey for this SR
  number"}} for make call, 401 "Client name,authorization or knowlarity number iswrong."
  for enabling/disabling notifications.
- The "USERNAME:KEY" form is accepted exactly where the documentation gives it, with the
  account's user name: `Authorization: USERNAME:SR_API_KEY` for plans, available numbers
  and tasks, `x-api-key: USERNAME:APPLICATION ACCESS KEY` for agents. Anywhere else, or with
  another user name, it is a wrong key. The bare key is accepted everywhere (the examples
  of those very endpoints send it bare).
- A `channel` header (the tasks and notifications examples send one) must name the
  path's channel: 400 otherwise.
Bad input gets the documented 400 bodies where the docs give one, otherwise 400
{"message": "<what is wrong>"}; make call always answers 200, errors as {"error": {...}}.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from sandbox.account import (
    MSG_BAD_SR_KEY,
    MSG_CALL_PLACED,
    MSG_INVALID_SR_NUMBER,
    MSG_NOTIFY_AUTH,
    MSG_OTP_OK,
    Account,
    Rejected,
    bad_request,
)
from sandbox.calllog import QueryError
from sandbox.calls import plan_makecall, plan_otp
from sandbox.traffic import CallEngine

log = logging.getLogger(__name__)

CHANNELS = {"basic": "Basic", "advance": "Advance", "premium": "Premium", "enterprise": "Enterprise", "test": "test"}
PREFIX = "/{channel}/v1/account"

Handler = Callable[[web.Request], Awaitable[Any]]


def key_matches(header: str | None, expected: str, *, username: str | None = None) -> bool:
    """The header carries `expected` bare, or as "USERNAME:KEY" when `username` is given
    (the endpoint is documented with that form); constant-time compare."""
    if not header:
        return False
    value = header.strip()
    want = expected.encode()
    if hmac.compare_digest(value.encode(), want):
        return True
    if username is None or ":" not in value:
        return False
    user, key = value.split(":", 1)
    same_user = hmac.compare_digest(user.strip().encode(), username.encode())
    return same_user & hmac.compare_digest(key.strip().encode(), want)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request body as a dict: JSON (whatever the content-type says), or a form.

    The documentation's examples send JSON strings with and without a content-type, and
    some send an empty body or `data={}` (which `requests` sends as nothing at all).
    """
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        if request.content_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(raw.decode("utf-8", "replace")))
        raise bad_request("Malformed JSON body.") from None
    if not isinstance(value, dict):
        raise bad_request("The body must be a JSON object.")
    return value


def paginate(
    request: web.Request,
    rows: list[Any],
    *,
    default_limit: int = 1000,
    max_limit: int | None = None,
    string_counts: bool = False,
    null_links: bool = False,
) -> dict[str, Any]:
    """Tastypie-style meta + objects, as every list sample shows it.

    `max_limit` caps the page size (as Tastypie's `max_limit` does; limit=0 then means
    the cap), so an account with more rows than one page answers with a `next` link.
    """
    q = request.query
    try:
        limit = int(q.get("limit", default_limit))
        offset = int(q.get("offset", 0))
    except ValueError:
        raise bad_request("limit and offset must be whole numbers.") from None
    if limit < 0 or offset < 0:
        raise bad_request("limit and offset must not be negative.")
    if max_limit is not None and (limit == 0 or limit > max_limit):
        limit = max_limit
    total = len(rows)
    chosen = rows[offset:] if limit == 0 else rows[offset:offset + limit]
    empty: str | None = None if null_links else ""
    nxt, prev = empty, empty
    if limit and offset + limit < total:
        nxt = f"{request.path}?limit={limit}&offset={offset + limit}"
    if limit and offset > 0:
        prev = f"{request.path}?limit={limit}&offset={max(0, offset - limit)}"
    meta: dict[str, Any] = {
        "limit": limit,
        "next": nxt,
        "offset": str(offset) if string_counts else offset,
        "previous": prev,
        "total_count": str(total) if string_counts else total,
    }
    return {"meta": meta, "objects": chosen}


class RestApi:
    """The handlers, bound to one account, one call engine and the accepted keys."""

    def __init__(
        self,
        account: Account,
        engine: CallEngine,
        *,
        sr_api_key: str,
        api_key: str,
        rng: random.Random,
        permission_delay: float,
        username: str = "sandbox",
        page_size: int = 1000,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.account = account
        self.username = username
        self.page_size = page_size
        self.engine = engine
        self._sr_api_key = sr_api_key
        self._api_key = api_key
        self.rng = rng
        self.permission_delay = permission_delay

    def now(self) -> float:
        return self.engine.clock()

    # ---- routing ----------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        r = self._route
        a = self
        r(app, "GET", "/numbers", a.list_numbers)
        r(app, "POST", "/numbers", a.buy_number)
        r(app, "GET", "/numbers/Circle", a.circles)
        r(app, "GET", "/numbers/AvailablePhoneNumbers", a.available, user="Authorization")
        r(app, "GET", "/plans", a.plans, auth="plans", user="Authorization")
        r(app, "GET", "/account/plans", a.plans, auth="plans", prefix="/{channel}", user="Authorization")
        r(app, "POST", "/call-center/create_order", a.create_order)
        r(app, "PUT", "/call-center/add_call_to_order", a.add_call_to_order)
        r(app, "GET", "/contacts/phonebook", a.list_phonebooks)
        r(app, "POST", "/contacts/phonebook", a.add_phonebook)
        r(app, "GET", "/sound", a.list_sounds)
        r(app, "POST", "/sound", a.add_sound)
        r(app, "POST", "/call/campaign/add-numbers", a.add_numbers)
        r(app, "GET", "/call/campaign", a.list_campaigns)
        r(app, "POST", "/call/campaign", a.create_campaign)
        r(app, "PUT", "/call/campaign", a.set_campaign_status)
        r(app, "PUT", "/call/campaign/{order_id}", a.set_campaign_status)
        r(app, "GET", "/agent", a.list_agents, user="x-api-key")
        r(app, "GET", "/agent/{agent_id}", a.get_agent, user="x-api-key")
        r(app, "GET", "/tasks", a.list_tasks, user="Authorization")
        r(app, "GET", "/tasks/{task_id}", a.get_task, user="Authorization")
        r(app, "POST", "/call/makecall", a.make_call, auth="makecall")
        r(app, "GET", "/otpcall", a.otp_call)
        r(app, "GET", "/notifications", a.list_notifications)
        r(app, "POST", "/notifications", a.register_notifications)
        r(app, "PUT", "/notifications", a.set_notifications, auth="notify_put")
        r(app, "GET", "/call/get-detailed-call-log", a.detailed_call_log)
        r(app, "POST", "/sr/calllog", a.call_log)

    def _route(
        self, app: web.Application, method: str, path: str, handler: Handler, *, auth: str = "default",
        prefix: str = PREFIX, user: str | None = None,
    ) -> None:
        wrapped = self._guard(handler, auth, user)
        full = prefix + path
        app.router.add_route(method, full, wrapped)
        app.router.add_route(method, full + "/", wrapped)

    def _auth_failure(self, style: str) -> web.Response:
        if style == "plans":
            return json_response({"error": MSG_BAD_SR_KEY}, 401)
        if style == "makecall":
            return json_response({"error": {"message": MSG_INVALID_SR_NUMBER}}, 200)
        if style == "notify_put":
            return json_response({"message": MSG_NOTIFY_AUTH}, 401)
        return json_response({"message": MSG_BAD_SR_KEY}, 401)

    def _guard(self, handler: Handler, auth: str, user: str | None) -> Handler:
        """`user`: the header documented with the USERNAME:KEY form on this endpoint, if any."""
        app_user = self.username if user == "x-api-key" else None
        sr_user = self.username if user == "Authorization" else None

        async def guarded(request: web.Request) -> web.StreamResponse:
            channel = request.match_info.get("channel", "")
            if channel.lower() not in CHANNELS:
                return json_response(
                    {"message": f"Unknown channel {channel!r}: use Basic, Advance, Premium or Enterprise."}, 404
                )
            if not key_matches(request.headers.get("x-api-key"), self._api_key, username=app_user):
                return json_response({"message": "Forbidden"}, 403)
            if not key_matches(request.headers.get("Authorization"), self._sr_api_key, username=sr_user):
                return self._auth_failure(auth)
            named = request.headers.get("channel")
            if named is not None and named.strip().lower() != channel.lower():
                return json_response(
                    {"message": f"The channel header {named.strip()!r} does not match the path's channel {channel!r}."},
                    400)
            try:
                result = await handler(request)
            except Rejected as exc:
                return json_response(exc.body, exc.status)
            except QueryError as exc:
                return json_response({"message": str(exc)}, 400)
            if isinstance(result, web.StreamResponse):
                return result
            return json_response(result)

        return guarded

    # ---- numbers and plans ---------------------------------------------------------------

    async def list_numbers(self, request: web.Request) -> Any:
        return paginate(request, self.account.list_numbers(request.query, self.now()), max_limit=self.page_size)

    async def buy_number(self, request: web.Request) -> Any:
        return self.account.buy_number(await read_body(request), self.now())

    async def circles(self, request: web.Request) -> Any:
        return self.account.list_circles(request.query.get("country"))

    async def available(self, request: web.Request) -> Any:
        return self.account.available_numbers(request.query)

    async def plans(self, request: web.Request) -> Any:
        return paginate(request, self.account.list_plans(request.query), max_limit=self.page_size)

    # ---- phonebooks and sounds -------------------------------------------------------------

    async def list_phonebooks(self, request: web.Request) -> Any:
        base = self.account.public_base_url
        return paginate(request, [p.to_json(base) for p in self.account.phonebooks], max_limit=self.page_size)

    async def add_phonebook(self, request: web.Request) -> Any:
        return self.account.add_phonebook(await read_body(request), self.now())

    async def list_sounds(self, request: web.Request) -> Any:
        return paginate(request, [s.to_json() for s in self.account.sounds], max_limit=self.page_size)

    async def add_sound(self, request: web.Request) -> Any:
        return self.account.add_sound(await read_body(request), self.now())

    # ---- campaigns and orders ------------------------------------------------------------------

    def _campaign_rows(self, campaigns: list[Any]) -> list[dict[str, Any]]:
        live: dict[str, int] = {}
        for plan in self.engine.active.values():
            if plan.campaign_id:
                live[plan.campaign_id] = live.get(plan.campaign_id, 0) + 1
        return [c.to_json(live.get(str(c.order_id), 0)) for c in campaigns]

    async def list_campaigns(self, request: web.Request) -> Any:
        rows = self._campaign_rows(self.account.list_campaigns(request.query, self.now()))
        return paginate(request, rows, max_limit=self.page_size)

    async def create_campaign(self, request: web.Request) -> Any:
        return self.account.create_campaign(await read_body(request), self.now())

    async def set_campaign_status(self, request: web.Request) -> Any:
        body = await read_body(request)
        order_id = request.match_info.get("order_id") or body.get("order_id")
        return self.account.set_campaign_status(order_id, body, self.now())

    async def add_numbers(self, request: web.Request) -> Any:
        return self.account.add_campaign_numbers(await read_body(request), self.now())

    async def create_order(self, request: web.Request) -> Any:
        return self.account.create_campaign(await read_body(request), self.now(), callcenter=True)

    async def add_call_to_order(self, request: web.Request) -> Any:
        return self.account.add_call_to_order(await read_body(request), self.now())

    # ---- agents and tasks -------------------------------------------------------------------------

    async def list_agents(self, request: web.Request) -> Any:
        return [a.to_json() for a in self.account.agents]

    async def get_agent(self, request: web.Request) -> Any:
        return self.account.get_agent(request.match_info["agent_id"])

    async def list_tasks(self, request: web.Request) -> Any:
        rows = [t.to_json() for t in self.account.list_tasks(request.query)]
        return paginate(request, rows, string_counts=True, max_limit=self.page_size)

    async def get_task(self, request: web.Request) -> Any:
        return self.account.get_task(request.match_info["task_id"])

    # ---- calls ----------------------------------------------------------------------------------------

    async def make_call(self, request: web.Request) -> Any:
        try:
            body = await read_body(request)
        except Rejected as exc:
            raise Rejected(200, {"error": {"message": exc.body["message"]}}) from None
        plan = plan_makecall(self.account, body, now=self.now(), rng=self.rng, permission_delay=self.permission_delay)
        self.engine.start(plan)
        return {"success": {"status": "success", "message": MSG_CALL_PLACED}}

    async def otp_call(self, request: web.Request) -> Any:
        plan = plan_otp(self.account, request.query, now=self.now(), rng=self.rng, permission_delay=self.permission_delay)
        self.engine.start(plan)
        return {"success": {"call_id": plan.uuid, "message": MSG_OTP_OK, "status": "initiated"}}

    # ---- notifications -------------------------------------------------------------------------------------

    async def list_notifications(self, request: web.Request) -> Any:
        rows = [r.to_json() for r in self.account.list_registrations(request.query)]
        return paginate(request, rows, default_limit=20, null_links=True, max_limit=min(self.page_size, 1000))

    async def register_notifications(self, request: web.Request) -> Any:
        return self.account.register_notifications(await read_body(request), self.now())

    async def set_notifications(self, request: web.Request) -> Any:
        return self.account.set_notifications(await read_body(request), self.now())

    # ---- call logs -----------------------------------------------------------------------------------------------

    async def detailed_call_log(self, request: web.Request) -> Any:
        call_uuid = request.query.get("uuid", "").strip()
        if not call_uuid:
            raise bad_request("uuid is required.")
        record = self.account.calllog.get(call_uuid)
        if record is None:
            raise Rejected(404, {"message": f"No call log found for uuid {call_uuid}."})
        return record.detailed(self.account.calllog.serial(call_uuid))

    async def call_log(self, request: web.Request) -> Any:
        body: Mapping[str, Any] = await read_body(request)
        return self.account.calllog.search(body, self.account.recording_url, now=self.now())
