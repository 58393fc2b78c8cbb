"""What the console does, separate from how it looks.

Screens turn a key press into a call on `Actions`; this module talks to the Knowlarity
client and the bot watcher, turns payload models into state rows, validates what the
user typed, and turns every failure into one line in the user's words (`ActionError`,
`describe_error`): the server's own message for an API error, never a traceback and
never a key.

Dialling is the one action that must not happen twice: `DialFlow` moves
editing -> confirming -> dialing -> placed|failed, and only the confirming -> dialing step
sends a request, synchronously guarded before the first await.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from console.api.calllog import CallLogPage, CallLogQuery, CallLogRecord
from console.api.dates import IST, parse_datetime
from console.api.errors import KnowlarityError
from console.api.loose import looks_secret
from console.api.models import Agent, Task
from console.api.phone import normalize_number
from console.botwatch import BotWatcher
from console.config import ConsoleSettings
from console.display import FIELD_LABELS, hangup_cause, humanize_code, repair_spaces, time_format
from console.display import duration as display_duration
from console.display import when as display_when
from console.form_models import AgentNumber, BotHangup, BotSay, BotTransfer, NotificationSwitch, OtpCall, RegisterNumber
from console.state import AgentRow, CallRow, CallsBoard, ConsoleState, TaskRow
from kcommon.errors import ConfigError
from kcommon.redact import redact
from voice.bus import HangupCommand, SayCommand, TransferCommand

log = logging.getLogger("console.actions")

Field = tuple[str, str]


class ActionError(Exception):
    """A user-facing failure: `str()` is one line to show as it is."""


def describe_error(exc: BaseException) -> str:
    """One line for any failure, in words a user understands, with every key hidden."""
    if isinstance(exc, ActionError):
        text = str(exc)
    elif isinstance(exc, KnowlarityError):
        text = exc.message or str(exc)
        if exc.status in (401, 403):
            text = f"{text} (the API keys were refused)"
    elif isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:3]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
        text = "; ".join(parts) or "invalid input"
    elif isinstance(exc, (ValueError, ConfigError)):
        text = str(exc)
    elif isinstance(exc, TimeoutError):
        text = "no answer in time"
    elif isinstance(exc, OSError):
        text = f"connection problem: {exc.strerror or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact(repair_spaces(" ".join(text.split())))[:300]


# ---- stream items into the board ------------------------------------------------------------


def ingest_stream_item(board: CallsBoard, item: object) -> None:
    """Apply one live-stream item to the board (the board owns ingestion: CallsBoard.ingest)."""
    board.ingest(item)


# ---- payloads into rows and fields ---------------------------------------------------------


def fmt_dt(value: datetime | None, *, with_seconds: bool = False) -> str:
    """A date-time in the one zone the user chose (console.display); naive ones are IST."""
    return display_when(value, seconds=with_seconds)


def agent_row(agent: Agent) -> AgentRow:
    name = " ".join(p for p in (agent.first_name, agent.last_name) if p) or str(agent.id or "?")
    return AgentRow(
        id=str(agent.id or name),
        name=name,
        status=agent.agent_status or "unknown",
        role=agent.callcenter_role or "",
        call_groups=tuple(g for g in agent.call_groups if g and g != "-"),
        number=normalize_number(agent.phone_number),
    )


def task_row(task: Task) -> TaskRow:
    return TaskRow(
        id=str(task.id or task.callrecord_uuid or "?"),
        type=task.type or "task",
        phone=normalize_number(task.phone),
        agent_id=str(task.agent_id or ""),
        due=fmt_dt(task.duedate),
        due_sort=task.duedate.timestamp() if task.duedate else float("inf"),
        missed_at=fmt_dt(task.call_missed_dt),
        missed_sort=task.call_missed_dt.timestamp() if task.call_missed_dt else 0.0,
        completed=bool(task.is_completed),
    )


def model_fields(model: BaseModel, *, skip: Iterable[str] = ()) -> list[Field]:
    """(label, value) pairs of a payload for a detail view: no secrets, no raw blobs."""
    skipped = {"raw", "record", *skip}
    out: list[Field] = []
    data = model.model_dump(mode="python", exclude_none=True)
    for name, value in data.items():
        if name in skipped or looks_secret(name) or value in ("", [], {}):
            continue
        if isinstance(value, datetime):
            text = fmt_dt(value, with_seconds=True)
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in list(value.items())[:6] if not looks_secret(str(k)))
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value[:12])
        else:
            text = str(value)
        label = name.replace("_", " ")
        if label.lower() in ("hangup cause",):
            text = hangup_cause(value)
        elif label.lower() == "new hangup cause":
            text = humanize_code(text)
        elif label.lower() in ("duration", "call duration", "billsec") and isinstance(value, (int, float)):
            text = display_duration(value)
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        out.append((FIELD_LABELS.get(label.lower(), label), redact(repair_spaces(text))[:200]))
    return out


def record_summary(record: CallLogRecord) -> str:
    when = fmt_dt(record.start_time)
    direction = "in " if record.inbound else "out"
    status = record.call_status or "?"
    return f"{when}  {direction}  {status:<10} {record.duration or 0:>4d} s  agent {record.agent_number or '—'}"


@dataclass(frozen=True)
class CallerContext:
    """What the screen pop shows about a caller."""

    number: str | None
    previous: list[str]
    tasks: list[str]


# ---- dialling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DialRequest:
    k_number: str
    agent_number: str
    customer_number: str
    caller_id: str | None = None
    channel: str = "PSTN"
    call_permission_request: bool | None = None

    @property
    def channel_label(self) -> str:
        return "WhatsApp" if self.channel.lower() == "whatsapp" else "phone (PSTN)"


DialState = Literal["editing", "confirming", "dialing", "placed", "failed"]


def _phone(value: str, label: str, *, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ActionError(f"{label} is required")
        return None
    number = normalize_number(value)
    digits = (number or "").lstrip("+")
    if not number or not digits.isdigit() or len(digits) < 6:
        raise ActionError(f"{label} “{value}” is not a phone number")
    return number


def explain_make_call_error(message: str, request: DialRequest) -> str:
    """Knowlarity's make-call refusals, with the fix the documentation gives for each."""
    lowered = message.lower()
    if "agent number not register" in lowered:
        return (f"{message}: {request.agent_number} is not an agent of this SR account. If 'Allowed agents only' "
                "is on (SR account → Settings → Plan settings), add this agent number there.")
    if "invalid apikey for this sr number" in lowered:
        return f"{message}: {request.k_number} is not an SR number of these API keys (see the Account view, 7)"
    return message


class DialFlow:
    """One dial dialog's life: check, confirm once, place once, then follow the call."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self.state: DialState = "editing"
        self.request: DialRequest | None = None
        self.outcome = ""
        self.call_id: str | None = None
        self.placed_at: float | None = None
        self.requests_sent = 0

    def prepare(self, values: dict[str, str]) -> DialRequest:
        """Validate what was typed; moves to `confirming`. Raises ActionError."""
        if self.state not in ("editing",):
            raise ActionError("this dialog already placed its call")
        channel = "Whatsapp" if (values.get("channel") or "").lower() == "whatsapp" else "PSTN"
        permission = values.get("call_permission_request") == "true"
        request = DialRequest(
            k_number=_phone(values.get("k_number", ""), "SR number") or "",
            agent_number=_phone(values.get("agent_number", ""), "agent number") or "",
            customer_number=_phone(values.get("customer_number", ""), "customer number") or "",
            caller_id=_phone(values.get("caller_id", ""), "caller id", required=False),
            channel=channel,
            call_permission_request=True if permission else (False if channel == "Whatsapp" else None),
        )
        if request.agent_number == request.customer_number:
            raise ActionError("the agent and the customer are the same number")
        self.request = request
        self.state = "confirming"
        return request

    def reset(self) -> None:
        if self.state == "confirming":
            self.state = "editing"
            self.request = None

    async def place(self) -> None:
        """Send make_call exactly once for this confirmation; later calls do nothing."""
        if self.state != "confirming" or self.request is None:
            return
        self.state = "dialing"  # before any await: a second press finds "dialing"
        request = self.request
        problem = await self.actions.dial_prerequisite(request.k_number)
        if problem:
            self.state = "failed"
            self.outcome = problem
            return
        self.requests_sent += 1
        self.placed_at = self.actions.clock()
        try:
            result = await self.actions.client.make_call(
                request.k_number,
                request.agent_number,
                request.customer_number,
                caller_id=request.caller_id,
                channel=request.channel if request.channel != "PSTN" else None,
                call_permission_request=request.call_permission_request,
            )
        except Exception as exc:  # shown in the dialog, in the server's words
            self.state = "failed"
            self.outcome = explain_make_call_error(describe_error(exc), request)
            log.info("make call failed: %s", self.outcome)
            return
        self.state = "placed"
        self.call_id = getattr(result, "call_id", None) or None
        self.outcome = repair_spaces(getattr(result, "message", None) or "call placed")

    def matched_call(self, board: CallsBoard) -> CallRow | None:
        """The placed call on the board: by the id Knowlarity returned, else by its numbers."""
        if self.state != "placed" or self.request is None or self.placed_at is None:
            return None
        if self.call_id:
            row = board.get(self.call_id)
            if row is not None:
                return row
        agent, customer = self.request.agent_number, self.request.customer_number
        return board.find_recent(lambda r: r.agent == agent and r.customer == customer, self.placed_at)


# ---- the call-log search form ---------------------------------------------------------------

CALL_STATUSES = ("", "Connected", "Missed", "Abandoned", "Failed", "Busy", "Voicemail")
SOLUTION_TYPES = ("all", "IBD", "OBD", "C2C", "IBD_CC", "sequential", "predictive")
PAGE_SIZE = 50


def _when(text: str, label: str, *, end_of_day: bool = False) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = time_format().typed(parse_datetime(text), text)
    except ValueError:
        raise ActionError(f"{label} “{text}” is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)") from None
    if end_of_day and len(text) <= 10:
        value = value + timedelta(days=1) - timedelta(seconds=1)
    return value


def _int(text: str, label: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ActionError(f"{label} “{text}” is not a whole number of seconds") from None
    if value < 0:
        raise ActionError(f"{label} cannot be negative")
    return value


def build_call_log_query(values: dict[str, str], *, limit: int = PAGE_SIZE) -> CallLogQuery:
    """The form's text fields -> a validated CallLogQuery. Raises ActionError."""
    customer = (values.get("customer") or "").strip()
    agent = (values.get("agent") or "").strip()
    solution = (values.get("solution_type") or "").strip()
    campaign = [c.strip() for c in (values.get("campaign_id") or "").replace(";", ",").split(",") if c.strip()]
    try:
        return CallLogQuery(
            start_time__gt=_when(values.get("start", ""), "from"),
            start_time__lt=_when(values.get("end", ""), "to", end_of_day=True),
            limit=limit,
            customer__contains=customer or None,
            agent_number=(normalize_number(agent) or agent) if agent else None,
            call_status=(values.get("call_status") or "").strip() or None,
            solution_type=[solution] if solution and solution != "all" else None,
            duration__gt=_int(values.get("min_duration", ""), "minimum duration"),
            duration__lt=_int(values.get("max_duration", ""), "maximum duration"),
            campaign_id=campaign or None,
            disposition=(values.get("disposition") or "").strip() or None,
            agent_status=(values.get("agent_status") or "").strip() or None,
            customer_status=(values.get("customer_status") or "").strip() or None,
            action=(values.get("action") or "").strip() or None,
            agent_device=(values.get("agent_device") or "").strip() or None,
        )
    except ValidationError as exc:
        raise ActionError(describe_error(exc)) from None


# ---- everything else ------------------------------------------------------------------------


class Actions:
    """The console's verbs, each a coroutine the screens run in workers."""

    def __init__(
        self,
        client: Any,
        state: ConsoleState,
        settings: ConsoleSettings,
        bot: BotWatcher | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.state = state
        self.settings = settings
        self.bot = bot
        self.clock = clock
        self.default_k_number: str | None = normalize_number(settings.k_number) if settings.k_number else None
        self.my_agent_id: str | None = None
        self._dial_ready: set[str] = set()  # SR numbers found registered and enabled for notifications

    # -- me --------------------------------------------------------------------------------

    def set_my_number(self, request: AgentNumber) -> None:
        """Pick my calls (and my tasks) out of the account's by this agent number."""
        number = request.agent_number
        self.state.set_my_number(number)
        agent = self.state.agents.by_number(number)
        self.my_agent_id = agent.id if agent else None

    async def find_k_number(self) -> str | None:
        """The SR number to call from when none is configured: the first bought, unexpired one."""
        if self.default_k_number:
            return self.default_k_number
        try:
            page = await self.client.list_numbers()
        except Exception as exc:  # the dial form just stays empty
            log.info("could not list numbers: %s", describe_error(exc))
            return None
        for number in page.objects:
            if number.phone_number and not number.is_expired:
                self.default_k_number = normalize_number(number.phone_number)
                return self.default_k_number
        return None

    # -- agents and tasks ------------------------------------------------------------------

    async def load_agents(self) -> None:
        try:
            agents = await self.client.list_agents()
        except Exception as exc:  # shown in the view
            self.state.agents.failed(describe_error(exc))
            return
        self.state.agents.replace(agent_row(a) for a in agents)
        if self.state.my_number and self.my_agent_id is None:
            mine = self.state.agents.by_number(self.state.my_number)
            self.my_agent_id = mine.id if mine else None

    async def agent_detail(self, agent_id: str) -> list[Field]:
        try:
            agent = await self.client.get_agent(agent_id)
        except Exception as exc:
            raise ActionError(describe_error(exc)) from None
        return model_fields(agent)

    async def load_tasks(self) -> None:
        try:
            page = await self.client.list_tasks()
        except Exception as exc:
            self.state.tasks.failed(describe_error(exc))
            return
        self.state.tasks.replace(task_row(t) for t in page.objects)

    async def task_detail(self, task_id: str) -> list[Field]:
        try:
            task = await self.client.get_task(task_id)
        except Exception as exc:
            raise ActionError(describe_error(exc)) from None
        return model_fields(task)

    # -- call log --------------------------------------------------------------------------

    async def search_call_log(self, query: CallLogQuery) -> CallLogPage:
        try:
            return await self.client.search_call_log(query)
        except Exception as exc:
            raise ActionError(describe_error(exc)) from None

    async def call_log_pages(self, query: CallLogQuery, *, max_pages: int = 500) -> AsyncIterator[CallLogPage]:
        """Every page of a search (an export walks it to its end), each call once; errors in words."""
        try:
            async for page in self.client.iter_call_log(query, max_pages=max_pages):
                yield page
        except Exception as exc:
            raise ActionError(describe_error(exc)) from None

    async def call_detail(self, uuid: str, record: CallLogRecord | None = None) -> tuple[list[Field], str | None]:
        """The detailed call log of one call (plus its call-log record), and its recording."""
        fields: list[Field] = model_fields(record) if record is not None else []
        recording = record.recording_url if record is not None else None
        try:
            detail = await self.client.detailed_call_log(uuid)
        except Exception as exc:
            if not fields:
                raise ActionError(describe_error(exc)) from None
            fields.append(("detailed log", f"unavailable: {describe_error(exc)}"))
            return fields, recording
        seen = {label for label, _ in fields}
        for label, value in model_fields(detail, skip=("events",)):
            if label not in seen:
                fields.append((label, value))
        events = getattr(detail, "events", None)
        if isinstance(events, dict) and events:
            trail = ", ".join(
                f"{k}={v}" for k, v in list(events.items())[:12]
                if not looks_secret(str(k)) and not isinstance(v, (dict, list))
            )
            fields.append(("IVR trail", redact(trail)[:400]))
        return fields, recording

    async def caller_context(self, number: str | None) -> CallerContext:
        """Previous calls (last 3 months of the call log) and open tasks of a caller."""
        if not number:
            return CallerContext(None, [], [])
        now = datetime.now(IST)
        query = CallLogQuery(
            customer__contains=number,
            start_time__gt=now - timedelta(days=89),
            start_time__lt=now + timedelta(minutes=1),
            limit=5,
        )
        page = await self.client.search_call_log(query)
        previous = [record_summary(r) for r in page.objects]
        if not self.state.tasks.tasks:
            await self.load_tasks()
        tasks = [f"{t.type}  due {t.due or '—'}  (task {t.id})" for t in self.state.tasks.open_for(number)]
        return CallerContext(number, previous, tasks)

    # -- calls -------------------------------------------------------------------------------

    def dial_flow(self) -> DialFlow:
        return DialFlow(self)

    async def dial_prerequisite(self, k_number: str) -> str | None:
        """Why make call cannot work from `k_number` yet, in words with the fix, or None.

        The documentation requires the SR number to be registered for notifications before
        make call works. Checked once per number (a registration found enabled is
        remembered); when the check itself fails, the call is not held back by it.
        """
        if k_number in self._dial_ready:
            return None
        try:
            page = await self.client.list_notifications(knowlarity_number=k_number)
        except Exception as exc:
            log.info("could not check the notification registration of %s: %s", k_number, describe_error(exc))
            return None
        mine = [r for r in page.objects if normalize_number(r.k_number) == k_number]
        if not mine:
            return (f"{k_number} is not registered for notifications, and make call needs that (the API guide says "
                    "so): register it in the Account view (7, then n), then dial again.")
        if not any(r.enable for r in mine):
            return (f"{k_number} is registered for notifications but disabled, and make call needs it enabled: "
                    "enable it in the Account view (7, select it, then e), then dial again.")
        self._dial_ready.add(k_number)
        return None

    async def otp_call(self, request: OtpCall) -> str:
        """Place one OTP call (never retried: a second try would be a second call)."""
        permission = request.call_permission_request
        try:
            result = await self.client.otp_call(
                request.ivr_id, request.k_number, request.customer_number,
                channel="Whatsapp" if request.whatsapp else None,
                call_permission_request=permission if (request.whatsapp or permission) else None,
            )
        except Exception as exc:
            raise ActionError(describe_error(exc)) from None
        call = f" (call id {result.call_id})" if result.call_id else ""
        return f"{result.message or 'OTP call placed'}{call}"

    # -- account -----------------------------------------------------------------------------

    async def account_overview(self) -> tuple[list[Any], list[Any], list[Any], list[str]]:
        """Bought numbers, plans, notification registrations, and any errors (one per part)."""
        errors: list[str] = []
        results: list[list[Any]] = []
        for label, call in (("numbers", self.client.list_numbers), ("plans", self.client.list_plans),
                            ("notifications", self.client.list_notifications)):
            try:
                page = await call()
                results.append(list(page.objects))
            except Exception as exc:  # each part fails on its own
                errors.append(f"{label}: {describe_error(exc)}")
                results.append([])
        return results[0], results[1], results[2], errors

    async def register_notifications(self, request: RegisterNumber) -> str:
        try:
            result = await self.client.register_notifications([request.number])
        except Exception as exc:
            raise ActionError(describe_error(exc)) from None
        return result.message or f"{request.number} registered"

    async def set_notifications(self, request: NotificationSwitch) -> str:
        number, enable = request.number, request.enable
        try:
            result = await self.client.set_notifications(number, enable)
        except Exception as exc:
            raise ActionError(describe_error(exc)) from None
        return result.message or f"notifications {'enabled' if enable else 'disabled'} for {number}"

    # -- the bot -----------------------------------------------------------------------------

    async def _bot(self, command: Any) -> str:
        if self.bot is None:
            raise ActionError("no bot is connected")
        error = await self.bot.send(command)
        if error:
            raise ActionError(error)
        return "done"

    async def bot_transfer(self, request: BotTransfer) -> str:
        dest = request.destination
        await self._bot(TransferCommand(call_id=request.call_id, destination=dest))
        return f"transferring the call{f' to {dest}' if dest else ''}"

    async def bot_hangup(self, request: BotHangup) -> str:
        await self._bot(HangupCommand(call_id=request.call_id))
        return "hanging up"

    async def bot_say(self, request: BotSay) -> str:
        await self._bot(SayCommand(call_id=request.call_id, text=request.text))
        return "the bot will say it"
