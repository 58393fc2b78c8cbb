"""The sandbox account: everything a SuperReceptionist account holds, and its rules.

`Account.generate(seed)` builds a deterministic account (see `sandbox.seed`): plans,
bought and available numbers per circle, a dozen agents, phonebooks, sounds, campaigns,
missed-call tasks, notification registrations and a few thousand call-log records over
the last three months. The methods below are the state changes the REST API offers;
each either returns the documented success body or raises `Rejected` carrying the HTTP
status and the body a real server sends for that failure. Nothing here knows about HTTP
routing or asyncio, so it is easy to test and to reason about.
"""

from __future__ import annotations

import re
import time
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox import formats as fmt
from sandbox.calllog import CallLog, CallRecord

# The documented messages, spaces lost exactly as the samples lose them.
MSG_BAD_SR_KEY = "The SR API Key used toauthenticate is incorrect."
MSG_BAD_COUNTRY = "You have providedinvalid country name. For moreinformation contact support."
MSG_NO_INPUT = "Provide some input.For more information contact support."
MSG_BAD_INPUT = "You have providedincorrect input. For more informationcontact support."
MSG_BOUGHT = "Your provided numberhas been allocated to youSuccessfully"
MSG_ORDER_PLACED = "placed ordersuccessfully"
MSG_CALL_ADDED = "call addedsuccessfully"
MSG_NOTIFY_AUTH = "Client name,authorization or knowlarity number iswrong."
MSG_INVALID_SR_NUMBER = "Invalid APIKey for this SR number"
MSG_AGENT_NOT_REGISTERED = "Agent Number not register with SR account"
MSG_CALL_PLACED = "Callsuccessfully placed"
MSG_PERMISSION_SENT = "Sent call permission request to customer. Please try calling after sometime"
MSG_PERMISSION_NOT_ALLOWED = "Not allowed to send call permission request."
MSG_OTP_OK = "OTP call initiated successfully"

CAMPAIGN_STATES = ("Pending", "In Progress", "Paused", "Stopped", "Completed")
AGENT_STATUSES = ("Available", "On Call", "Logged Out", "Busy", "Break")

# Fixed, documented numbers so the docs, tests and demo can name them whatever the seed.
MAIN_NUMBER = "+918047100100"        # inbound to agents (IBD)
MISSED_CALL_NUMBER = "+918047100200"  # a missed-call service: rings once, hangs up, makes a task
BOT_NUMBER = "+918047100300"          # inbound calls go to the voice bot (Stream Node)
CLI_NUMBER = "+918047100400"          # outgoing caller id for click-to-call


class Rejected(Exception):
    """A request the account refuses: the HTTP status and the exact body to send."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def bad_request(message: str, **extra: Any) -> Rejected:
    return Rejected(400, {"message": message, **extra})


def not_found(message: str) -> Rejected:
    return Rejected(404, {"message": message})


# ---- the things an account holds ----------------------------------------------------------


@dataclass(slots=True)
class Plan:
    userplan_id: int
    plan_name: str
    plan_type: str  # E, D, P, I, T, H, C
    is_active: bool
    created: float
    expiry: float

    def to_json(self) -> dict[str, Any]:
        return {
            "userplan_id": self.userplan_id,
            "plan_name": self.plan_name,
            "is_active": "true" if self.is_active else "false",
            "created_date": fmt.iso_utc(self.created),
            "expiry_time": fmt.iso_utc_lost_space(self.expiry),
            "plan_type": self.plan_type,
        }


@dataclass(slots=True)
class BoughtNumber:
    phone_number: str
    created: float
    expiry: float
    user_plan_id: int
    cli_type: str = "NONE"  # or "OUTGOING"
    number_type: str = "1"
    number_rating: int = -1
    purpose: str = "extra"  # main | missed_call | bot | cli | extra

    def is_expired(self, now: float) -> bool:
        return self.expiry <= now

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "cli_type": self.cli_type,
            "created_time": fmt.iso_utc(self.created),
            "expiry_time": fmt.iso_utc(self.expiry),
            "is_expired": self.is_expired(now),
            "number_type": self.number_type,
            "phone_number": self.phone_number,
            "number_rating": self.number_rating,
        }


@dataclass(slots=True)
class Circle:
    id: int
    city: str
    country: str

    def to_json(self) -> dict[str, Any]:
        return {"city": self.city, "id": self.id}


@dataclass(slots=True)
class AvailableNumber:
    number: str
    circle_id: int
    number_type: str  # MOBILE | LANDLINE | TOLLFREE
    number_rating: int  # 0 Regular .. 5 Platinum
    provider_name: str
    cli_capable: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "number_type": self.number_type,
            "number_rating": self.number_rating,
            "circle_id": self.circle_id,
            "number": self.number,
            "provider_name": self.provider_name,
        }


@dataclass(slots=True)
class Agent:
    id: str
    first_name: str
    last_name: str
    phone_number: str
    email: str
    base_status: str
    call_groups: list[str]
    role: str  # owner | manager | agent
    device: str  # Phone | WebRTC | Mobile App
    active_calls: int = 0

    @property
    def status(self) -> str:
        """What the API reports: "On Call" while any call of the agent is live."""
        return "On Call" if self.active_calls > 0 else self.base_status

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def to_json(self, *, detail: bool = False) -> dict[str, Any]:
        # The list sample shows [] for no group, the detail sample ["-"]; both are sent as shown.
        groups = list(self.call_groups) or (["-"] if detail else [])
        return {
            "agent_status": self.status,
            "call_groups": groups,
            "callcenter_role": self.role,
            "first_name": self.first_name,
            "id": self.id,
            "last_name": self.last_name,
            # Not in the samples: the agent API's overview says an agent has a phone number
            # and an email; make call needs the number, so the sandbox shows both.
            "phone_number": self.phone_number,
            "email": self.email,
        }


@dataclass(slots=True)
class Phonebook:
    id: int
    name: str
    description: str
    numbers: list[str]
    invalid_count: int
    duplicates_count: int
    ndnc_count: int
    created: float

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "description": self.description,
            "duplicates_count": self.duplicates_count,
            "id": self.id,
            "invalid_count": self.invalid_count,
            "ndnc_count": self.ndnc_count,
            "phonebookfile": f"{base_url}/files/phonebook_{self.id}.csv",
            "phonebookname": self.name,
            "row_count": len(self.numbers),
            "timestamp": fmt.rfc_month_year_joined(self.created),
        }


@dataclass(slots=True)
class Sound:
    id: int
    name: str
    file_url: str
    language: str
    description: str
    status: str  # "0" under approval, "1" approved, "2" rejected
    created: float
    comment: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "comment": self.comment,
            "date": fmt.rfc_year_time_joined(self.created),
            "description": self.description,
            "id": str(self.id),
            "language": self.language,
            "soundfile": self.file_url,
            "soundname": self.name,
            "status": self.status,
        }


@dataclass(slots=True)
class Campaign:
    order_id: int
    ivr_id: str
    ivr_name: str
    phonebook_id: str
    numbers: list[str]  # every number of the campaign, phonebook's and additional ones
    additional_numbers: list[str]
    timezone: str
    priority: int
    throttling: int
    retry_duration: int
    max_retry: int
    start: float
    end: float | None
    call_scheduling: str
    schedule_start: str
    schedule_stop: str
    created: float
    is_transactional: bool
    status: str
    k_number: str
    caller_id: str = ""
    ndnc_count: int = 0
    called: int = 0  # how many of `numbers` have been dialled
    outbound_callcenter: bool = False

    def to_json(self, active_calls: int = 0) -> dict[str, Any]:
        return {
            "additional_number": ";".join(self.additional_numbers),
            "call_scheduling": self.call_scheduling,
            "call_scheduling_start_time": self.schedule_start,
            "call_scheduling_stop_time": self.schedule_stop,
            "caller_id": self.caller_id,
            "created_time": fmt.rfc_month_year_joined(self.created),
            "end_time": fmt.rfc_month_year_joined(self.end) if self.end else "",
            "is_transactional": "True" if self.is_transactional else "False",
            "ivr": self.ivr_name,
            "ivr_id": self.ivr_id,
            "ndnc_count": self.ndnc_count,
            "optin_key": "",
            "order_id": str(self.order_id),
            "order_status": self.status,
            "order_throttling": f"{active_calls}/{self.throttling}",
            "phonebook_id": self.phonebook_id,
            "priority": self.priority,
            "retry_duration": self.retry_duration,
            "start_time": fmt.rfc_month_year_joined(self.start),
            "max_retry": self.max_retry,
            "timezone": self.timezone,
            "total_calls": len(self.numbers),
        }


@dataclass(slots=True)
class Task:
    id: int
    type: str  # missedcall | followup
    phone: str
    callrecord_uuid: str
    call_missed: float | None
    created: float
    modified: float
    duedate: float | None = None
    agent_id: str = ""
    contact_id: str = ""
    created_by: str = "internal"
    completed: float | None = None
    completed_via: str = ""

    def to_json(self, *, detail: bool = False) -> dict[str, Any]:
        missed = ""
        if self.call_missed is not None:
            # the list sample shows call_missed_dt with its space, the detail sample without
            missed = (fmt.iso_utc_lost_space if detail else fmt.iso_utc)(self.call_missed)
        return {
            "agent_id": self.agent_id,
            "call_missed_dt": missed,
            "callrecord_uuid": self.callrecord_uuid,
            "completed_dt": fmt.iso_utc_lost_space(self.completed) if self.completed else "$None",
            "completed_via": self.completed_via,
            "duedate": fmt.iso_utc_lost_space(self.duedate) if self.duedate else "",
            "contact_id": self.contact_id,
            "created_by": self.created_by,
            "created_dt": fmt.iso_utc_lost_space(self.created),
            "id": self.id,
            "is_completed": self.completed is not None,
            "modified_dt": fmt.iso_utc_lost_space(self.modified),
            "phone": self.phone,
            "type": self.type,
        }


@dataclass(slots=True)
class Registration:
    id: int
    k_number: str
    enable: bool
    updated: float
    app_id: int = 7
    app_name: str = "KONNECT"
    user_id: int = 41

    def to_json(self) -> dict[str, Any]:
        return {
            "app_api_key": "",
            "app_data": "{}",
            "app_type": {"id": self.app_id, "name": self.app_name, "resource_uri": f"/api/v1/applications/{self.app_id}"},
            "app_url": "",
            "date_updated": fmt.iso_t(self.updated),
            "enable": self.enable,
            "expired": False,
            "id": self.id,
            "k_api_key": "",  # the real field carries a key; the sandbox never echoes one
            "k_number": self.k_number,
            "k_number_cc": "IN" if self.k_number.startswith("+91") else "",
            "konnect_api_client": None,
            "product": "SR",
            "resource_uri": f"/api/v1/integrations/{self.id}",
            "user": {"id": self.user_id, "resource_uri": f"/api/v1/users/{self.user_id}", "username": "SR"},
        }


# ---- small parsing helpers ----------------------------------------------------------------


def as_bool(value: Any, *, name: str) -> bool:
    """The API's booleans: true/false, True/False, 1/0, as JSON or as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError(f"{name} must be true or false")


def as_int(value: Any, *, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError(f"{name} must be a whole number")


def split_numbers(raw: Any) -> list[str]:
    """"+91..;+91.." or "+91..,+91.." or a JSON list, as the docs send numbers."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, (list, tuple)):
        items = [str(x) for x in raw]
    else:
        items = re.split(r"[;,\n]", str(raw))
    return [x.strip() for x in items if x.strip()]


_SCHEDULE_RE = re.compile(r"^\[\s*[01]\s*(,\s*[01]\s*){6}\]$")


def schedule_string(raw: Any) -> str:
    """call_scheduling as the list sample prints it: "[1, 1, 1, 1, 1, 0, 0]"."""
    if raw is None or raw == "":
        return "[1, 1, 1, 1, 1, 0, 0]"
    if isinstance(raw, list):
        values = raw
    elif isinstance(raw, str) and _SCHEDULE_RE.match(raw.strip()):
        values = [int(x) for x in re.findall(r"[01]", raw)]
    else:
        raise ValueError('call_scheduling must be seven 0/1 flags, like "[1, 1, 1, 1, 1, 0, 0]"')
    if len(values) != 7 or any(v not in (0, 1) or isinstance(v, bool) for v in values):
        raise ValueError('call_scheduling must be seven 0/1 flags, like "[1, 1, 1, 1, 1, 0, 0]"')
    return "[" + ", ".join(str(v) for v in values) + "]"


def clock_time(raw: Any, default: str, *, name: str) -> str:
    """"9:00" -> "09:00:00 +0530", as campaigns print their daily window."""
    text = default if raw in (None, "") else str(raw).strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"{name} must be HH:MM")
    return f"{int(m.group(1)):02d}:{m.group(2)}:{m.group(3) or '00'} +0530"


# ---- the account -----------------------------------------------------------------------------


@dataclass
class Account:
    """One SuperReceptionist account's state. Mutated only through its methods."""

    seed: int
    plans: list[Plan]
    numbers: list[BoughtNumber]
    circles: list[Circle]
    available: list[AvailableNumber]
    agents: list[Agent]
    phonebooks: list[Phonebook]
    sounds: list[Sound]
    ivr_flows: dict[str, str]
    campaigns: list[Campaign]
    tasks: list[Task]
    registrations: list[Registration]
    calllog: CallLog
    customers: list[str]
    dnc_numbers: set[str]
    no_answer_numbers: set[str]
    whatsapp_permissions: dict[str, float]  # customer -> time the permission is (or will be) granted
    public_base_url: str = "http://127.0.0.1"
    _serial: int = field(default=1000, repr=False)

    # well-known numbers (fixed, see the module constants)
    main_number: str = MAIN_NUMBER
    missed_call_number: str = MISSED_CALL_NUMBER
    bot_number: str = BOT_NUMBER
    cli_number: str = CLI_NUMBER

    @classmethod
    def generate(cls, seed: int = 7, *, now: float | None = None, history: int = 3000) -> Account:
        from sandbox.seed import build_account  # noqa: PLC0415 - sandbox.seed imports this module

        return build_account(seed, now=time.time() if now is None else now, history=history)

    # ---- lookups --------------------------------------------------------------------------

    def next_id(self) -> int:
        self._serial += 1
        return self._serial

    def bought(self, number: str, now: float | None = None) -> BoughtNumber | None:
        """The bought number (active, unless `now` is None) matching `number`."""
        for n in self.numbers:
            if n.phone_number == number and (now is None or not n.is_expired(now)):
                return n
        return None

    def agent_by_number(self, number: str) -> Agent | None:
        return next((a for a in self.agents if a.phone_number == number), None)

    def agent_by_id(self, agent_id: str) -> Agent | None:
        return next((a for a in self.agents if a.id == agent_id), None)

    @property
    def default_agent(self) -> Agent:
        """The account owner: Available, the natural "me" for make call."""
        return self.agents[0]

    def notifications_enabled(self, k_number: str) -> bool:
        """The live stream carries a number's calls only while its registration is enabled."""
        return any(r.k_number == k_number and r.enable for r in self.registrations)

    def recording_url(self, call_uuid: str) -> str:
        return (
            f"{self.public_base_url}/kstorage/read?uuid={call_uuid}_0_1_r.wav"
            "&server_ip=127.0.0.1&base_dir=recording"
        )

    def campaign(self, order_id: Any) -> Campaign | None:
        try:
            oid = int(str(order_id).strip())
        except ValueError:
            return None
        return next((c for c in self.campaigns if c.order_id == oid), None)

    def sound(self, sound_id: Any) -> Sound | None:
        return next((s for s in self.sounds if str(s.id) == str(sound_id).strip()), None)

    # ---- numbers ------------------------------------------------------------------------------

    def list_numbers(self, query: Mapping[str, str], now: float) -> list[dict[str, Any]]:
        rows = self.numbers
        if query.get("number"):
            wanted = fmt.normalize_number(query["number"]) or query["number"]
            rows = [n for n in rows if n.phone_number == wanted]
        if query.get("user_plan_id"):
            rows = [n for n in rows if str(n.user_plan_id) == query["user_plan_id"].strip()]
        if query.get("expiry_time"):
            try:
                limit = fmt.parse_datetime(query["expiry_time"], default_tz=fmt.IST).timestamp()
            except ValueError:
                raise bad_request(MSG_BAD_INPUT, detail="expiry_time is not a date") from None
            rows = [n for n in rows if n.expiry <= limit]
        return [n.to_json(now) for n in rows]

    def list_circles(self, country: str | None) -> list[dict[str, Any]]:
        wanted = (country or "India").strip().lower()
        rows = [c for c in self.circles if c.country.lower() == wanted]
        if not rows:
            raise bad_request(MSG_BAD_COUNTRY)
        return [c.to_json() for c in rows]

    def list_plans(self, query: Mapping[str, str]) -> list[dict[str, Any]]:
        rows = self.plans
        if query.get("id"):
            rows = [p for p in rows if str(p.userplan_id) == query["id"].strip()]
        if query.get("plan"):
            rows = [p for p in rows if p.plan_name.lower() == query["plan"].strip().lower()]
        if query.get("plan_type"):
            rows = [p for p in rows if p.plan_type == query["plan_type"].strip().upper()]
        return [p.to_json() for p in rows]

    def available_numbers(self, query: Mapping[str, str]) -> dict[str, Any]:
        if not any(v.strip() for v in query.values()):
            raise bad_request(MSG_NO_INPUT)
        try:
            circle_id = as_int(query.get("circle_id", ""), name="circle_id")
            rating = as_int(query["number_rating"], name="number_rating") if query.get("number_rating") else 0
            cli = as_int(query["cli_type"], name="cli_type") if query.get("cli_type") else 0
        except ValueError as exc:
            raise bad_request(MSG_BAD_INPUT, detail=str(exc)) from None
        if not any(c.id == circle_id for c in self.circles):
            raise bad_request(MSG_BAD_INPUT, detail=f"no circle with id {circle_id}")
        if rating < -1 or rating > 5:
            raise bad_request(MSG_BAD_INPUT, detail="number_rating must be -1 or 0..5")
        rows = [n for n in self.available if n.circle_id == circle_id]
        if rating != -1:
            rows = [n for n in rows if n.number_rating == rating]
        if cli == 1:
            rows = [n for n in rows if n.cli_capable]
        if query.get("number_type"):
            kind = query["number_type"].strip().upper()
            if kind not in ("MOBILE", "LANDLINE", "TOLLFREE"):
                raise bad_request(MSG_BAD_INPUT, detail="number_type must be mobile, landline or tollfree")
            rows = [n for n in rows if n.number_type == kind]
        pattern = query.get("pattern", "").strip()
        if pattern:
            if pattern.startswith("^"):
                rows = [n for n in rows if n.number.startswith(pattern[1:])]
            elif pattern.endswith("$"):
                rows = [n for n in rows if n.number.endswith(pattern[:-1])]
            else:
                rows = [n for n in rows if pattern in n.number]
        return {"numbers": [n.to_json() for n in rows]}

    def buy_number(self, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        missing = [k for k in ("user_plan_id", "expiry_time", "number") if body.get(k) in (None, "")]
        if len(missing) == 3:
            raise bad_request(MSG_NO_INPUT)
        if missing:
            raise bad_request(MSG_BAD_INPUT, detail=f"missing {', '.join(missing)}")
        plan = next((p for p in self.plans if str(p.userplan_id) == str(body["user_plan_id"]).strip()), None)
        if plan is None:
            raise bad_request(MSG_BAD_INPUT, detail="unknown user_plan_id")
        if not plan.is_active or plan.expiry <= now:
            raise bad_request(MSG_BAD_INPUT, detail="the plan is not active")
        try:
            # a time without a zone is India time, as everywhere in the API (the answers print
            # the same instants in UTC: a plan "expiring 2017-10-19 18:30+00:00" ends at midnight IST)
            expiry = fmt.parse_datetime(str(body["expiry_time"]), default_tz=fmt.IST).timestamp()
        except ValueError:
            raise bad_request(MSG_BAD_INPUT, detail="expiry_time must be YYYY-MM-DD HH:MM:SS") from None
        if expiry <= now:
            raise bad_request(MSG_BAD_INPUT, detail="expiry_time must be in the future")
        if expiry > plan.expiry:
            raise bad_request(MSG_BAD_INPUT, detail="expiry_time is after the plan's expiry")
        number = fmt.normalize_number(body["number"])
        offer = next((n for n in self.available if n.number == number), None)
        if offer is None:
            raise bad_request(MSG_BAD_INPUT, detail="the number is not available")
        cli_type = str(body.get("cli_type") or "").strip().upper()
        if cli_type not in ("", "OUTGOING"):
            raise bad_request(MSG_BAD_INPUT, detail="cli_type must be OUTGOING")
        if cli_type and not offer.cli_capable:
            raise bad_request(MSG_BAD_INPUT, detail="the number cannot be a caller id")
        self.available.remove(offer)
        self.numbers.append(
            BoughtNumber(
                phone_number=offer.number, created=now, expiry=expiry, user_plan_id=plan.userplan_id,
                cli_type=cli_type or "NONE", number_rating=offer.number_rating,
            )
        )
        return {"message": MSG_BOUGHT, "Number": offer.number}

    # ---- phonebooks and sounds -----------------------------------------------------------------

    def add_phonebook(self, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        name = str(body.get("phonebookname") or "").strip()
        if not name:
            raise bad_request("phonebookname is required.")
        if any(p.name == name for p in self.phonebooks):
            raise bad_request(f"A phonebook named {name!r} already exists.")
        raw = split_numbers(body.get("numbers"))
        if not raw:
            raise bad_request('numbers is required: "+91XXXXXXXXXX;+91XXXXXXXXXX".')
        valid: list[str] = []
        invalid = duplicates = ndnc = 0
        for item in raw:
            number = fmt.normalize_number(item)
            if number is None:
                invalid += 1
            elif number in valid:
                duplicates += 1
            elif number in self.dnc_numbers:
                ndnc += 1
            else:
                valid.append(number)
        book = Phonebook(
            id=max((p.id for p in self.phonebooks), default=0) + 1, name=name,
            description=str(body.get("description") or ""), numbers=valid, invalid_count=invalid,
            duplicates_count=duplicates, ndnc_count=ndnc, created=now,
        )
        self.phonebooks.append(book)
        return {"msg": ["Successfully added phonebook"], "id": book.id}

    def add_sound(self, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        name = str(body.get("soundname") or "").strip()
        url = str(body.get("soundfile") or "").strip()
        if not name:
            raise bad_request("soundname is required.")
        if not re.match(r"^https?://\S+\.(mp3|wav)(\?\S*)?$", url, re.IGNORECASE):
            raise bad_request("soundfile must be the public URL of an mp3 or wav file.")
        sound = Sound(
            id=max((s.id for s in self.sounds), default=157000) + 1, name=name, file_url=url,
            language=str(body.get("language") or "english"), description=str(body.get("description") or ""),
            status="0", created=now,
        )
        self.sounds.append(sound)
        return {"msg": ["Successfully added sound"], "status": "0", "id": sound.id}

    # ---- campaigns and call-center orders -------------------------------------------------------

    def refresh_campaigns(self, now: float) -> None:
        """Pending campaigns whose start time has come are In Progress; ended ones Completed."""
        for c in self.campaigns:
            if c.status == "Pending" and c.start <= now:
                c.status = "In Progress"
            if c.status == "In Progress" and ((c.end and c.end <= now) or c.called >= len(c.numbers)):
                c.status = "Completed"

    def list_campaigns(self, query: Mapping[str, str], now: float) -> list[Campaign]:
        self.refresh_campaigns(now)
        rows = list(self.campaigns)
        if query.get("order_id"):
            rows = [c for c in rows if str(c.order_id) == query["order_id"].strip()]
        if query.get("ivr_id"):
            rows = [c for c in rows if c.ivr_id == query["ivr_id"].strip()]
        if query.get("phonebook_id"):
            rows = [c for c in rows if c.phonebook_id == query["phonebook_id"].strip()]
        if query.get("is_transactional"):
            try:
                wanted = as_bool(query["is_transactional"], name="is_transactional")
            except ValueError as exc:
                raise bad_request(str(exc)) from None
            rows = [c for c in rows if c.is_transactional == wanted]
        ops = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}
        for key, value in query.items():
            m = re.fullmatch(r"(created_time|start_time|end_time)__(gt|gte|lt|lte)", key)
            if not m:
                continue
            try:
                bound = fmt.parse_datetime(value).timestamp()
            except ValueError as exc:
                raise bad_request(f"{key}: {exc}") from None
            attr = {"created_time": "created", "start_time": "start", "end_time": "end"}[m.group(1)]
            op = ops[m.group(2)]
            rows = [c for c in rows if getattr(c, attr) is not None and op(float(getattr(c, attr)), bound)]
        return rows

    def create_campaign(self, body: Mapping[str, Any], now: float, *, callcenter: bool = False) -> dict[str, Any]:
        def need(cond: bool, message: str) -> None:
            if not cond:
                raise bad_request(message)

        ivr_ref = body.get("sound_id", body.get("ivr_id"))
        need(ivr_ref not in (None, ""), "sound_id or ivr_id is required.")
        ivr_id = str(ivr_ref).strip()
        sound = self.sound(ivr_id)
        if sound is not None:
            need(sound.status == "1", f"Sound {ivr_id} is not approved.")
            ivr_name = f"sound_obd_ivr_{sound.id}"
        elif ivr_id in self.ivr_flows:
            ivr_name = self.ivr_flows[ivr_id]
        else:
            raise bad_request(f"No approved sound or IVR with id {ivr_id}.")
        timezone_name = str(body.get("timezone") or "").strip()
        need(bool(timezone_name), "timezone is required.")
        need(timezone_name in ("Asia/Kolkata", "Asia/Calcutta", "UTC", "Asia/Dubai", "Asia/Singapore"),
             f"Unknown timezone {timezone_name!r}.")
        need(bool(body.get("start_time")), "start_time is required (yyyy-MM-dd HH:mm).")
        try:
            start = fmt.parse_datetime(str(body["start_time"])).timestamp()
            end = fmt.parse_datetime(str(body["end_time"])).timestamp() if body.get("end_time") else None
            priority = as_int(body.get("priority", 1), name="priority")
            throttling = as_int(body.get("order_throttling", body.get("order-throttling", 10)), name="order_throttling")
            retry_duration = as_int(body.get("retry_duration", 15), name="retry_duration")
            max_retry = as_int(body.get("max_retry", body.get("call_times_retry", 3)), name="max_retry")
            scheduling = schedule_string(body.get("call_scheduling"))
            sched_start = clock_time(body.get("call_scheduling_start_time"), "9:00", name="call_scheduling_start_time")
            sched_stop = clock_time(body.get("call_scheduling_stop_time"), "21:00", name="call_scheduling_stop_time")
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        try:
            is_transactional = as_bool(body.get("is_transactional", False), name="is_transactional")
        except ValueError:  # documented: any other value places a promotional campaign
            is_transactional = False
        need(1 <= priority <= 10, "priority must be between 1 and 10.")
        need(1 <= throttling <= 100, "order_throttling must be between 1 and 100.")
        need(end is None or end > start, "end_time must be after start_time.")
        k_number = fmt.normalize_number(body.get("k_number") or "")
        if callcenter:
            # Documented as mandatory for orders ("SR number belonging to Enterprise SIVR Plan"),
            # though the documentation's own example leaves it out: that example gets this 400.
            disp = fmt.normalize_number(body.get("Ivr_disp_num") or "")
            need(body.get("Ivr_disp_num") not in (None, ""),
                 "Ivr_disp_num is a mandatory parameter: the SR number of the Enterprise SIVR plan.")
            need(disp is not None and self.bought(disp, now) is not None,
                 "Ivr_disp_num must be an active SR number of this account.")
            if body.get("user_plan_id") not in (None, ""):
                plan_id = str(body["user_plan_id"]).strip()
                need(any(str(p.userplan_id) == plan_id for p in self.plans), f"No plan with user_plan_id {plan_id}.")
            if body.get("outbound_callcenter") not in (None, ""):
                need(str(body["outbound_callcenter"]).strip().lower() in ("1", "true"),
                     'outbound_callcenter must be 1 for an outbound call-center order.')
            k_number = k_number or disp
        need(k_number is not None and self.bought(k_number, now) is not None,
             "k_number must be an active SR number of this account.")
        phonebook_id = str(body.get("phonebook") or body.get("phonebook_id") or "").strip()
        numbers: list[str] = []
        if phonebook_id:
            book = next((p for p in self.phonebooks if str(p.id) == phonebook_id), None)
            need(book is not None, f"No phonebook with id {phonebook_id}.")
            assert book is not None
            numbers.extend(book.numbers)
        extra_raw = split_numbers(body.get("additional_number"))
        extra = [fmt.normalize_number(x) for x in extra_raw]
        need(all(extra), "additional_number has an invalid number.")
        need(bool(numbers or extra), "Provide a phonebook or additional_number.")
        ndnc = sum(1 for n in extra if n in self.dnc_numbers)
        clean_extra = [n for n in extra if n and n not in self.dnc_numbers]
        for n in clean_extra:
            if n not in numbers:
                numbers.append(n)
        order_id = max((c.order_id for c in self.campaigns), default=170) + 1
        self.campaigns.append(
            Campaign(
                order_id=order_id, ivr_id=ivr_id, ivr_name=ivr_name, phonebook_id=phonebook_id, numbers=numbers,
                additional_numbers=clean_extra, timezone=timezone_name, priority=priority, throttling=throttling,
                retry_duration=retry_duration, max_retry=max_retry, start=start, end=end,
                call_scheduling=scheduling, schedule_start=sched_start, schedule_stop=sched_stop, created=now,
                is_transactional=is_transactional, status="Pending", k_number=k_number or self.main_number,
                ndnc_count=ndnc, outbound_callcenter=callcenter,
            )
        )
        self.refresh_campaigns(now)
        return {"order_id": order_id, "result": MSG_ORDER_PLACED, "status_code": 1}

    _TRANSITIONS = {
        "pause": ({"Pending", "In Progress"}, "Paused", "paused"),
        "resume": ({"Paused"}, "In Progress", "resumed"),
        "stop": ({"Pending", "In Progress", "Paused"}, "Stopped", "stopped"),
    }

    def set_campaign_status(self, order_id: Any, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        self.refresh_campaigns(now)
        if order_id in (None, ""):
            raise bad_request("order_id is required.")
        campaign = self.campaign(order_id)
        if campaign is None:
            raise not_found(f"Campaign {order_id} not found.")
        action = str(body.get("status") or "").strip().lower()
        if action not in self._TRANSITIONS:
            raise bad_request('status must be "pause", "resume" or "stop".')
        allowed, new_state, verb = self._TRANSITIONS[action]
        if campaign.status not in allowed:
            raise bad_request(f"Campaign cannot be {verb} as it is {campaign.status}.")
        campaign.status = new_state
        if new_state == "In Progress" and campaign.start > now:
            campaign.status = "Pending"
        return {"message": f"Campaign {verb}successfully!"}

    def _add_to_campaign(self, order_id: Any, raw_numbers: Any, now: float) -> tuple[Campaign, list[str], int]:
        self.refresh_campaigns(now)
        if order_id in (None, ""):
            raise bad_request("order_id is required.")
        campaign = self.campaign(order_id)
        if campaign is None:
            raise not_found(f"Campaign {order_id} not found.")
        if campaign.status not in ("Pending", "In Progress"):
            raise bad_request(f"Numbers can be added only to a Pending or In Progress campaign; this one is {campaign.status}.")
        items = split_numbers(raw_numbers)
        if not items:
            raise bad_request("phone_numbers is required.")
        numbers = [fmt.normalize_number(x) for x in items]
        if not all(numbers):
            raise bad_request("phone_numbers has an invalid number.")
        dnd = sum(1 for n in numbers if n in self.dnc_numbers)
        added = [n for n in numbers if n and n not in self.dnc_numbers]
        campaign.numbers.extend(added)
        campaign.additional_numbers.extend(added)
        campaign.ndnc_count += dnd
        return campaign, added, dnd

    def add_campaign_numbers(self, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        raw = body.get("phone_numbers", body.get("additional_number"))
        _, added, dnd = self._add_to_campaign(body.get("order_id"), raw, now)
        return {"dnd_count": str(dnd), "message": MSG_CALL_ADDED, "sivr_call_ids": [str(uuidlib.uuid4()) for _ in added]}

    def add_call_to_order(self, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        try:
            if body.get("call_times_retry") not in (None, ""):
                as_int(body["call_times_retry"], name="call_times_retry")
            if body.get("retry_timedelta") not in (None, ""):
                as_int(body["retry_timedelta"], name="retry_timedelta")
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        self._add_to_campaign(body.get("order_id"), body.get("phone_numbers"), now)
        return {"result": MSG_CALL_ADDED, "status_code": 1}

    # ---- agents and tasks ---------------------------------------------------------------------------

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        agent = self.agent_by_id(agent_id.strip())
        if agent is None:
            raise not_found(f"Agent {agent_id} not found.")
        return agent.to_json(detail=True)

    def list_tasks(self, query: Mapping[str, str]) -> list[Task]:
        rows = sorted(self.tasks, key=lambda t: t.created, reverse=True)
        if query.get("type"):
            rows = [t for t in rows if t.type == query["type"].strip()]
        if query.get("is_completed"):
            try:
                done = as_bool(query["is_completed"], name="is_completed")
            except ValueError as exc:
                raise bad_request(str(exc)) from None
            rows = [t for t in rows if (t.completed is not None) == done]
        if query.get("agent_id"):
            rows = [t for t in rows if t.agent_id == query["agent_id"].strip()]
        if query.get("phone"):
            wanted = fmt.normalize_number(query["phone"]) or query["phone"]
            rows = [t for t in rows if t.phone == wanted]
        return rows

    def get_task(self, task_id: str) -> dict[str, Any]:
        task = next((t for t in self.tasks if str(t.id) == task_id.strip()), None)
        if task is None:
            raise not_found(f"Task {task_id} not found.")
        return task.to_json(detail=True)

    def add_missed_call_task(self, record: CallRecord) -> Task:
        task = Task(
            id=max((t.id for t in self.tasks), default=4369998) + 1, type="missedcall",
            phone=record.customer_number, callrecord_uuid=record.uuid, call_missed=record.ts,
            created=record.end_ts, modified=record.end_ts,
        )
        self.tasks.append(task)
        return task

    # ---- notifications --------------------------------------------------------------------------------

    def list_registrations(self, query: Mapping[str, str]) -> list[Registration]:
        rows = list(self.registrations)
        if query.get("knowlarity_number"):
            wanted = fmt.normalize_number(query["knowlarity_number"]) or query["knowlarity_number"]
            rows = [r for r in rows if r.k_number == wanted]
        if query.get("enabled"):
            try:
                flag = as_bool(query["enabled"], name="enabled")
            except ValueError as exc:
                raise bad_request(str(exc)) from None
            rows = [r for r in rows if r.enable == flag]
        return rows

    def register_notifications(self, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        raw = body.get("knowlarity_number")
        items: Iterable[Any] = raw if isinstance(raw, list) else ([raw] if raw else [])
        items = list(items)
        if not items:
            raise Rejected(400, {"error": {"knowlarity_number": "This field is required."}})
        numbers: list[str] = []
        for item in items:
            number = fmt.normalize_number(item)
            if number is None or self.bought(number, now) is None:
                raise Rejected(
                    400, {"error": {"knowlarity_number": f"The knowlaritynumber({item}) or API key isinvalid."}}
                )
            numbers.append(number)
        for number in numbers:
            reg = next((r for r in self.registrations if r.k_number == number), None)
            if reg is None:
                self.registrations.append(Registration(id=self.next_id(), k_number=number, enable=True, updated=now))
            else:
                reg.enable, reg.updated = True, now
        return {"message": "Successfullyregistered."}

    def set_notifications(self, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        number = fmt.normalize_number(body.get("knowlarity_number") or "")
        reg = next((r for r in self.registrations if r.k_number == number), None)
        if reg is None:
            raise Rejected(401, {"message": MSG_NOTIFY_AUTH})
        flag = body.get("enable")
        if isinstance(flag, str) and flag.strip().lower() in ("enable", "disable"):
            enable = flag.strip().lower() == "enable"
        else:
            try:
                enable = as_bool(flag, name="enable")
            except ValueError:
                raise bad_request('enable must be "enable" or "disable".') from None
        reg.enable, reg.updated = enable, now
        return {"message": "Successfullyenabled." if enable else "Successfullydisabled."}
