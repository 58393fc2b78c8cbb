"""KnowlarityClient: one async method per documented REST endpoint, typed in and out.

Design notes (the why):

- One `httpx.AsyncClient` per KnowlarityClient, keys in its default headers (`x-api-key`:
  the application access key, `Authorization`: the SR API key), paths exactly as documented
  under `{base_url}/{channel}/v1/account/`. Where the documentation gives an endpoint's
  header as `USERNAME:SR_API_KEY` (plans, available numbers, tasks) or
  `x-api-key: USERNAME:APPLICATION ACCESS KEY` (agents), and a `username` is configured,
  exactly those endpoints get that form; every other endpoint gets the bare keys. The
  `channel` header goes where the documentation's examples send one (tasks,
  notifications).
- Every list is read to its end (`paging.py`): a partial list shown as if whole is worse
  than a slow one. The call-log search pages with its documented `offset`. A transport can be injected, so tests talk to a
  `MockTransport` or a loopback server through the very same code path.
- Redirects are not followed: httpx drops `Authorization` on a cross-host redirect but would
  carry `x-api-key` along.
- Reads (GETs, and the call-log search, a POST that only reads) are retried on timeouts,
  connection errors, 429 and 5xx with bounded exponential backoff and jitter. Actions are
  never retried automatically -- make call, OTP call, buy number, create campaign, create
  order and every other POST/PUT: a request that timed out may well have been carried out,
  and a retry can ring a customer twice or buy a second number. The error says so.
- Keys never appear in a repr, an exception or a log line: the repr is hand-written, error
  texts go through a redactor, and httpx's own request log is filtered (see `redact.py`).
- Bodies are read with `lenient_json` (Knowlarity's documented bodies are often
  pseudo-JSON); a body that cannot be read at all is a clear `ResponseFormatError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from kcommon import logsafe
from kcommon.redact import Redactor, register_secret

from .backoff import Backoff
from .bodies import MAX_BODY_BYTES, read_capped
from .calllog import CallLogPage, CallLogQuery
from .dates import format_api_datetime, parse_datetime
from .errors import (
    ApiConnectionError,
    ApiTimeout,
    AuthError,
    BadRequest,
    KnowlarityError,
    NotFound,
    RateLimited,
    ResponseFormatError,
    ServerError,
    error_message,
)
from .lenient_json import LenientJSONError, aloads
from .models import (
    AddCallResult,
    AddNumbersResult,
    Agent,
    AvailableNumber,
    BoughtNumber,
    BuyNumberResult,
    Campaign,
    Circle,
    DetailedCallLog,
    MakeCallResult,
    MessageResult,
    Meta,
    NotificationRegistration,
    OrderResult,
    OtpCallResult,
    Page,
    Phonebook,
    PhonebookUploadResult,
    Plan,
    Sound,
    SoundUploadResult,
    Task,
)
from .paging import MAX_PAGES, next_page_params
from .phone import normalize_number
from .requests import CampaignFilter, NewCampaign, NewOrder, join_numbers

if TYPE_CHECKING:
    from console.config import ConsoleSettings

__all__ = ["DEFAULT_BASE_URL", "AuthForm", "CampaignStatus", "KnowlarityClient"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://kpi.knowlarity.com"
CampaignStatus = Literal["pause", "resume", "stop"]
AuthForm = Literal["plain", "user_sr", "user_app"]
"""How an endpoint's keys are sent: bare, `Authorization: USERNAME:SR_API_KEY`, or
`x-api-key: USERNAME:APPLICATION_ACCESS_KEY` (the documented forms; see the module notes)."""
M = TypeVar("M", bound=BaseModel)
_CHANNEL = re.compile(r"^[A-Za-z0-9_-]+$")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 30.0
_USERNAME = re.compile(r"^[^\s:]{1,128}$")


def _secret(value: str | SecretStr | None, name: str) -> SecretStr:
    text = value.get_secret_value() if isinstance(value, SecretStr) else (value or "")
    if not text.strip():
        raise ValueError(f"{name} is empty")
    if any(ch in text for ch in "\r\n"):
        raise ValueError(f"{name} contains a line break")
    return SecretStr(text.strip())


def _params(**values: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            out[name] = "True" if value else "False"
        elif isinstance(value, datetime):
            out[name] = format_api_datetime(value)
        else:
            out[name] = str(value)
    return out


def _number(value: str, name: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValueError(f"{name} is required")
    return normalize_number(text) or text


def _bool_text(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


class KnowlarityClient:
    """Async client of Knowlarity's SuperReceptionist REST API.

    Use as `async with KnowlarityClient(...) as client:` or call `aclose()`.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        sr_api_key: str | SecretStr,
        api_key: str | SecretStr,
        channel: str = "Basic",
        username: str | None = None,
        timeout: float = 15.0,
        connect_timeout: float | None = None,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.max_body_bytes = max(1024, max_body_bytes)
        # a list endpoint is read to its end, but never past this many pages (a server whose
        # `next` never ends cannot keep the console reading)
        self.max_pages = max(1, max_pages)
        self._sr_api_key = _secret(sr_api_key, "sr_api_key")
        self._api_key = _secret(api_key, "api_key")
        if not _CHANNEL.match(channel or ""):
            raise ValueError("channel must be a single path word such as Basic, Advance, Premium or Enterprise")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries not negative")
        name = (username or "").strip()
        if name and not _USERNAME.match(name):
            raise ValueError("username must be one word without spaces or ':'")
        self.base_url = base_url.rstrip("/")
        self.channel = channel
        self.username: str | None = name or None
        self.timeout = float(timeout)
        self.retries = int(retries)
        self._backoff = backoff or Backoff(base=0.5, factor=2.0, cap=8.0)
        self._sleep = sleep
        self._rng = rng
        self._redact = Redactor([self._sr_api_key, self._api_key])
        register_secret(self._sr_api_key)
        register_secret(self._api_key)
        logsafe.install()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "x-api-key": self._api_key.get_secret_value(),
                "Authorization": self._sr_api_key.get_secret_value(),
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "knowlarity-console",
            },
            timeout=httpx.Timeout(self.timeout, connect=connect_timeout or min(self.timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: ConsoleSettings, **overrides: Any) -> KnowlarityClient:
        """Build from console settings; raises ConfigError naming a missing key."""
        settings.require_credentials()
        kwargs: dict[str, Any] = dict(
            base_url=settings.base_url,
            sr_api_key=settings.sr_api_key,
            api_key=settings.api_key,
            channel=settings.channel,
            username=settings.username,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            retries=settings.retries,
        )
        kwargs.update(overrides)
        return cls(**kwargs)

    def __repr__(self) -> str:
        return f"KnowlarityClient(base_url={self.base_url!r}, channel={self.channel!r}, keys=***)"

    async def __aenter__(self) -> KnowlarityClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    def redact(self, text: object) -> str:
        """`text` with this client's keys hidden (for callers building their own messages)."""
        return self._redact(text)

    # -- transport -----------------------------------------------------------------------------

    def _path(self, endpoint: str) -> str:
        return f"/{self.channel}/v1/account/{endpoint}"

    async def _request(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        retry: bool,
        auth: AuthForm = "plain",
        channel_header: bool = False,
    ) -> Any:
        path = self._path(endpoint)
        headers = self._headers(auth, channel_header)
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                async with self._http.stream(
                        method, path, params=params or None, json=json, headers=headers or None) as response:
                    raw = await read_capped(response, self.max_body_bytes + 1)
            except httpx.TimeoutException:
                error: KnowlarityError = ApiTimeout(
                    f"Knowlarity did not answer within {self.timeout:g} s"
                    + ("" if retry else "; the action may still have happened: check before trying again"),
                    method=method, path=path,
                )
            except httpx.TransportError as exc:
                reason = self._redact(str(exc)) or type(exc).__name__
                error = ApiConnectionError(f"could not reach Knowlarity: {reason}", method=method, path=path)
            else:
                body = await self._body(raw, response)
                if response.status_code not in _RETRY_STATUSES:
                    return self._decode(response, body, method, path)
                error = self._error(response, method, path, body)
                retry_after = self._retry_after(response)
            if attempt >= attempts:
                raise error
            delay = self._backoff.delay(attempt, self._rng())
            if retry_after is not None:
                delay = max(delay, retry_after)
            log.info("%s; retry %d of %d in %.1f s", error, attempt, attempts - 1, delay)
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _headers(self, auth: AuthForm, channel_header: bool) -> dict[str, str]:
        """Per-request header overrides: the documented USERNAME:KEY form, the channel."""
        headers: dict[str, str] = {}
        if self.username and auth == "user_sr":
            headers["Authorization"] = f"{self.username}:{self._sr_api_key.get_secret_value()}"
        elif self.username and auth == "user_app":
            headers["x-api-key"] = f"{self.username}:{self._api_key.get_secret_value()}"
        if channel_header:
            headers["channel"] = self.channel
        return headers

    async def _walk(
        self, endpoint: str, item: type[M], what: str, *, params: dict[str, str] | None = None,
        auth: AuthForm = "plain", channel_header: bool = False,
    ) -> Page[M]:
        """Every page of a list endpoint (at most `max_pages`), merged into one Page (see paging.py)."""
        max_pages = self.max_pages
        page_model = Page[item]  # type: ignore[valid-type]
        base = dict(params or {})
        rows: list[M] = []
        asked: set[int] = set()
        offset = 0
        query = dict(base)
        last: Page[M] | None = None
        page_limit: int | None = None
        for _ in range(max_pages):
            data = await self._request("GET", endpoint, params=query, retry=True, auth=auth,
                                       channel_header=channel_header)
            last = self._model(page_model, data, what)
            rows.extend(last.objects)
            if page_limit is None:
                page_limit = last.meta.limit
            asked.add(offset)
            if offset and last.meta.offset is not None and last.meta.offset != offset:
                log.warning("%s: the server ignored offset=%d; the list shown may not be complete", what, offset)
                rows = rows[:-len(last.objects)] if last.objects else rows
                break
            following = next_page_params(
                next_link=last.meta.next, offset=offset, received=len(last.objects),
                total_count=last.meta.total_count, path=self._path(endpoint), base_url=self.base_url)
            if following is None:
                break
            offset = int(following["offset"])
            if offset in asked:
                break
            query = {**base, **following}
        else:
            log.warning("%s: stopped after %d pages; the list shown is not complete", what, max_pages)
        total = last.meta.total_count if last is not None and last.meta.total_count is not None else len(rows)
        meta = Meta(limit=page_limit, offset=0, total_count=max(total, len(rows)), next="", previous="")
        return page_model(meta=meta, objects=rows)

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        value = response.headers.get("retry-after", "").strip()
        try:
            return min(float(value), _MAX_RETRY_AFTER) if value else None
        except ValueError:
            return None

    async def _body(self, raw: bytes, response: httpx.Response) -> Any:
        """Decoded body, None when empty, or the `_Unreadable` marker (also for a body past
        `max_body_bytes`, which was not read beyond the cap and is never parsed)."""
        if len(raw) > self.max_body_bytes:
            return _Unreadable("", f"the answer is larger than {self.max_body_bytes:,} bytes and was not read")
        text = raw.decode(response.encoding or "utf-8", errors="replace")
        if not text.strip():
            return None
        try:
            return await aloads(text)
        except (LenientJSONError, ValueError) as exc:
            return _Unreadable(text, str(exc))

    def _decode(self, response: httpx.Response, body: Any, method: str, path: str) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if isinstance(body, _Unreadable):
                raise ResponseFormatError(
                    f"Knowlarity's answer is not JSON ({body.reason}): {self._redact(body.snippet)}",
                    status=status, method=method, path=path,
                )
            if isinstance(body, dict) and body.get("error") not in (None, "", {}) and not body.get("success"):
                raise BadRequest(self._message(body, response), status=status, method=method, path=path, body=body)
            return body
        raise self._error(response, method, path, body)

    def _message(self, body: Any, response: httpx.Response) -> str:
        if isinstance(body, _Unreadable):
            text = body.snippet
        else:
            text = error_message(body)
        return self._redact(text or response.reason_phrase or f"HTTP {response.status_code}")

    def _error(self, response: httpx.Response, method: str, path: str, body: Any) -> KnowlarityError:
        status = response.status_code
        message = self._message(body, response)
        kept = None if isinstance(body, _Unreadable) else body
        if 300 <= status < 400:
            message = f"unexpected redirect ({message}); check KNOWLARITY_BASE_URL"
        kind: type[KnowlarityError] = KnowlarityError
        if status in (401, 403):
            kind = AuthError
        elif status == 404:
            kind = NotFound
        elif status == 429:
            kind = RateLimited
        elif status >= 500:
            kind = ServerError
        elif 400 <= status < 500:
            kind = BadRequest
        return kind(message, status=status, method=method, path=path, body=kept)

    def _model(self, model: type[M], data: Any, what: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors()
            where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
            where = where or "body"
            raise ResponseFormatError(
                f"unexpected {what} answer from Knowlarity ({where}: {errors[0]['msg'] if errors else 'invalid'})"
            ) from None

    def _list(self, model: type[M], data: Any, what: str, key: str | None = None) -> list[M]:
        if isinstance(data, dict):
            for name in (key, "objects", "data", "results"):
                if name and isinstance(data.get(name), list):
                    data = data[name]
                    break
        if data is None:
            return []
        if not isinstance(data, list):
            raise ResponseFormatError(f"unexpected {what} answer from Knowlarity (expected a list)")
        return [self._model(model, item, what) for item in data]

    @staticmethod
    def _success(data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("success"), dict):
            return data["success"]
        return data if data is not None else {}

    # -- numbers, circles, plans ---------------------------------------------------------------

    async def list_numbers(
        self, *, user_plan_id: str | int | None = None, expiry_time: datetime | str | None = None,
        number: str | None = None,
    ) -> Page[BoughtNumber]:
        """GET numbers/ : the account's bought numbers (every page)."""
        return await self._walk("numbers/", BoughtNumber, "numbers", params=_params(
            user_plan_id=user_plan_id, expiry_time=expiry_time, number=number))

    async def list_circles(self, *, country: str | None = None) -> list[Circle]:
        """GET numbers/Circle : telco circles (of `country`, else the account's country)."""
        data = await self._request("GET", "numbers/Circle", params=_params(country=country), retry=True)
        return self._list(Circle, data, "circles")

    async def list_plans(
        self, *, id: str | int | None = None, plan: str | None = None, plan_type: str | None = None
    ) -> Page[Plan]:
        """GET plans : the account's plans (the v1 path; the header's /{channel}/account/plans
        is the same resource). Documented with `Authorization: USERNAME:SR_API_KEY`."""
        return await self._walk("plans", Plan, "plans", params=_params(id=id, plan=plan, plan_type=plan_type),
                                auth="user_sr")

    async def available_numbers(
        self, circle_id: int | str, *, cli_type: int | None = None, number_rating: int | None = None,
        number_type: str | None = None, pattern: str | None = None,
    ) -> list[AvailableNumber]:
        """GET numbers/AvailablePhoneNumbers : numbers that can be bought in a circle.

        `pattern`: "^+9190" starts with, "9069" contains, "8967$" ends with (sent encoded).
        """
        data = await self._request("GET", "numbers/AvailablePhoneNumbers", params=_params(
            circle_id=circle_id, cli_type=cli_type, number_rating=number_rating,
            number_type=number_type, pattern=pattern), retry=True, auth="user_sr")
        return self._list(AvailableNumber, data, "available numbers", key="numbers")

    async def buy_number(
        self, number: str, *, user_plan_id: str | int, expiry_time: datetime | str,
        cli_type: Literal["OUTGOING"] | None = None,
    ) -> BuyNumberResult:
        """POST numbers : allocate an available number to a plan until `expiry_time`.

        Never retried: a retry after a lost answer could buy twice.
        """
        body: dict[str, Any] = {
            "user_plan_id": str(user_plan_id),
            "expiry_time": format_api_datetime(parse_datetime(expiry_time)),
            "number": _number(number, "number"),
        }
        if cli_type:
            body["cli_type"] = cli_type
        data = await self._request("POST", "numbers", json=body, retry=False)
        return self._model(BuyNumberResult, data, "buy number")

    # -- phonebooks and sounds -------------------------------------------------------------------

    async def list_phonebooks(self) -> Page[Phonebook]:
        """GET contacts/phonebook/ (every page)."""
        return await self._walk("contacts/phonebook/", Phonebook, "phonebooks")

    async def upload_phonebook(self, name: str, numbers: list[str] | str) -> PhonebookUploadResult:
        """POST contacts/phonebook/ : a new phonebook from numbers."""
        joined = join_numbers(numbers)
        if not name.strip() or not joined:
            raise ValueError("a phonebook needs a name and at least one number")
        data = await self._request(
            "POST", "contacts/phonebook/", json={"phonebookname": name.strip(), "numbers": joined}, retry=False)
        return self._model(PhonebookUploadResult, data, "phonebook upload")

    async def list_sounds(self) -> Page[Sound]:
        """GET sound : sounds with their approval status (every page)."""
        return await self._walk("sound", Sound, "sounds")

    async def upload_sound(
        self, name: str, url: str, *, language: str | None = None, description: str | None = None
    ) -> SoundUploadResult:
        """POST sound : register a public mp3/wav URL; it starts "Under Approval" (status 0)."""
        if not name.strip() or not url.strip().lower().startswith(("http://", "https://")):
            raise ValueError("a sound needs a name and a public http(s) URL of an mp3 or wav file")
        body = {"soundname": name.strip(), "soundfile": url.strip()}
        if language:
            body["language"] = language
        if description:
            body["description"] = description
        data = await self._request("POST", "sound", json=body, retry=False)
        return self._model(SoundUploadResult, data, "sound upload")

    # -- campaigns and call-center orders -------------------------------------------------------

    async def list_campaigns(self, filters: CampaignFilter | None = None, **filter_values: Any) -> Page[Campaign]:
        """GET call/campaign with any documented filter (CampaignFilter or its field names);
        every page."""
        query = filters or CampaignFilter(**filter_values)
        return await self._walk("call/campaign", Campaign, "campaigns", params=query.to_params())

    async def create_campaign(self, campaign: NewCampaign) -> OrderResult:
        """POST call/campaign. Never retried: a duplicate campaign calls everyone twice."""
        data = await self._request("POST", "call/campaign", json=campaign.to_body(), retry=False)
        return self._model(OrderResult, data, "create campaign")

    async def set_campaign_status(self, order_id: str | int, status: CampaignStatus) -> MessageResult:
        """PUT call/campaign/{order_id} {"status": pause|resume|stop}."""
        if status not in ("pause", "resume", "stop"):
            raise ValueError("status must be pause, resume or stop")
        data = await self._request(
            "PUT", f"call/campaign/{quote(str(order_id), safe='')}", json={"status": status}, retry=False)
        return self._model(MessageResult, data, "campaign status")

    async def add_campaign_numbers(self, order_id: str | int, numbers: list[str] | str) -> AddNumbersResult:
        """POST call/campaign/add-numbers : more numbers for a pending or running campaign.

        Sent as `phone_numbers` as in the documentation's examples (its request-body block
        says `additional_number`; one name only, so no number can be added twice).
        """
        joined = join_numbers(numbers)
        if not joined:
            raise ValueError("no numbers to add")
        body = {"order_id": _int_if_digits(order_id), "phone_numbers": joined}
        data = await self._request("POST", "call/campaign/add-numbers", json=body, retry=False)
        return self._model(AddNumbersResult, data, "add numbers")

    async def create_order(self, order: NewOrder) -> OrderResult:
        """POST call-center/create_order/. Never retried (a duplicate order calls twice)."""
        data = await self._request("POST", "call-center/create_order/", json=order.to_body(), retry=False)
        return self._model(OrderResult, data, "create order")

    async def add_call_to_order(
        self, order_id: str | int, phone_numbers: list[str] | str, *,
        call_times_retry: int | None = None, retry_timedelta: int | None = None,
    ) -> AddCallResult:
        """PUT call-center/add_call_to_order : add numbers to a pending or running order."""
        joined = join_numbers(phone_numbers)
        if not joined:
            raise ValueError("no numbers to add")
        body: dict[str, Any] = {"order_id": _int_if_digits(order_id), "phone_numbers": joined}
        if call_times_retry is not None:
            body["call_times_retry"] = call_times_retry
        if retry_timedelta is not None:
            body["retry_timedelta"] = retry_timedelta
        data = await self._request("PUT", "call-center/add_call_to_order", json=body, retry=False)
        return self._model(AddCallResult, data, "add call to order")

    # -- agents and tasks --------------------------------------------------------------------------

    async def list_agents(self) -> list[Agent]:
        """GET agent. Documented with `x-api-key: USERNAME:APPLICATION ACCESS KEY`."""
        data = await self._request("GET", "agent", retry=True, auth="user_app")
        return self._list(Agent, data, "agents")

    async def get_agent(self, agent_id: str | int) -> Agent:
        """GET agent/{id}"""
        data = await self._request("GET", f"agent/{quote(str(agent_id), safe='')}", retry=True, auth="user_app")
        return self._model(Agent, data, "agent")

    async def list_tasks(self) -> Page[Task]:
        """GET tasks : follow-up tasks (missed calls), every page. Documented with
        `Authorization: USERNAME:SR_API_KEY`, and its examples send the `channel` header."""
        return await self._walk("tasks", Task, "tasks", auth="user_sr", channel_header=True)

    async def get_task(self, task_id: str | int) -> Task:
        """GET tasks/{id}"""
        data = await self._request("GET", f"tasks/{quote(str(task_id), safe='')}", retry=True, auth="user_sr",
                                   channel_header=True)
        return self._model(Task, data, "task")

    # -- calls --------------------------------------------------------------------------------------

    async def make_call(
        self, k_number: str, agent_number: str, customer_number: str, caller_id: str | None = None,
        channel: str | None = None, call_permission_request: bool | None = None,
    ) -> MakeCallResult:
        """POST call/makecall : ring the agent, then connect the customer (click-to-call).

        `channel="Whatsapp"` and `call_permission_request` are the WhatsApp fields. Refusals
        come back as a 200 with {"error": ...} and raise BadRequest with Knowlarity's words
        ("Call Failed! Number ... in Do Not Call registry."). Never retried: a retry after a
        lost answer rings the customer twice.
        """
        body: dict[str, Any] = {
            "k_number": _number(k_number, "k_number"),
            "agent_number": _number(agent_number, "agent_number"),
            "customer_number": _number(customer_number, "customer_number"),
        }
        if caller_id:
            body["caller_id"] = _number(caller_id, "caller_id")
        if channel:
            body["channel"] = channel
        if call_permission_request is not None:
            body["call_permission_request"] = _bool_text(call_permission_request)
        data = await self._request("POST", "call/makecall", json=body, retry=False)
        return self._model(MakeCallResult, self._success(data), "make call")

    async def otp_call(
        self, ivr_id: str | int, k_number: str, customer_number: str, channel: str | None = None,
        call_permission_request: bool | None = None,
    ) -> OtpCallResult:
        """GET otpcall : an OTP voice call. A GET, but never retried: it rings the customer."""
        params = _params(
            ivr_id=ivr_id,
            k_number=_number(k_number, "k_number"),
            customer_number=_number(customer_number, "customer_number"),
            channel=channel,
            call_permission_request=_bool_text(call_permission_request),
        )
        data = await self._request("GET", "otpcall", params=params, retry=False)
        return self._model(OtpCallResult, self._success(data), "OTP call")

    # -- notifications ---------------------------------------------------------------------------

    async def list_notifications(
        self, *, knowlarity_number: str | None = None, enabled: bool | None = None
    ) -> Page[NotificationRegistration]:
        """GET notifications : numbers registered for live notifications (every page; the
        documented page size here is 20)."""
        return await self._walk("notifications", NotificationRegistration, "notifications", params=_params(
            knowlarity_number=knowlarity_number, enabled=enabled), channel_header=True)

    async def register_notifications(self, knowlarity_numbers: list[str] | str) -> MessageResult:
        """POST notifications {"knowlarity_number": [...]} : start live notifications
        (required before make call works)."""
        numbers = [knowlarity_numbers] if isinstance(knowlarity_numbers, str) else list(knowlarity_numbers)
        numbers = [_number(n, "knowlarity_number") for n in numbers if n and n.strip()]
        if not numbers:
            raise ValueError("no knowlarity_number to register")
        data = await self._request("POST", "notifications", json={"knowlarity_number": numbers}, retry=False,
                                   channel_header=True)
        return self._model(MessageResult, data, "register notifications")

    async def set_notifications(self, knowlarity_number: str, enable: bool) -> MessageResult:
        """PUT notifications {"knowlarity_number", "enable": "enable"|"disable"}."""
        body = {"knowlarity_number": _number(knowlarity_number, "knowlarity_number"),
                "enable": "enable" if enable else "disable"}
        data = await self._request("PUT", "notifications", json=body, retry=False, channel_header=True)
        return self._model(MessageResult, data, "notification setting")

    # -- call logs -------------------------------------------------------------------------------

    async def detailed_call_log(self, uuid: str) -> DetailedCallLog:
        """GET call/get-detailed-call-log?uuid= : one call with its IVR trail."""
        if not uuid or not uuid.strip():
            raise ValueError("uuid is required")
        data = await self._request("GET", "call/get-detailed-call-log", params={"uuid": uuid.strip()}, retry=True)
        return self._model(DetailedCallLog, data, "detailed call log")

    async def search_call_log(self, query: CallLogQuery | None = None, **filters: Any) -> CallLogPage:
        """POST sr/calllog with the filters in the body (a read, so retried).

        `query.after(page)` is the query of the following page (by `offset`); with
        `get_total=True` the page's `meta.total_count` holds the number of matching calls.
        """
        query = query or CallLogQuery(**filters)
        data = await self._request("POST", "sr/calllog", json=query.to_body(), retry=True)
        return self._model(CallLogPage, data, "call log")

    async def iter_call_log(
        self, query: CallLogQuery | None = None, *, max_pages: int = 100, **filters: Any
    ) -> AsyncIterator[CallLogPage]:
        """Every page of a call-log search, by `offset`, until a short or empty page.

        The log is newest first, so calls that end during the walk push older rows down one
        offset: a row already yielded is dropped from later pages (by uuid), so each call
        comes once. Bounded by `max_pages`, so a server that never ends cannot keep the
        console busy.
        """
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        current: CallLogQuery | None = query or CallLogQuery(**filters)
        seen: set[str] = set()
        for _ in range(max_pages):
            assert current is not None
            page = await self.search_call_log(current)
            fresh = [r for r in page.objects if not r.uuid or r.uuid not in seen]
            seen.update(r.uuid for r in fresh if r.uuid)
            yield page if len(fresh) == len(page.objects) else page.model_copy(update={"objects": fresh})
            current = current.after(page)
            if current is None:
                return
        log.warning("call-log search stopped after %d pages; narrow the time range to see the rest", max_pages)


def _int_if_digits(value: str | int) -> int | str:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


class _Unreadable:
    """A body that was not even pseudo-JSON (HTML error pages, truncated bodies)."""

    def __init__(self, text: str, reason: str) -> None:
        self.reason = reason
        snippet = " ".join(re.sub(r"<[^>]+>", " ", text).split())
        self.snippet = snippet[:200] + ("…" if len(snippet) > 200 else "")
