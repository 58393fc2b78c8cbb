"""What the console's forms hold, as typed models, and the API request each one makes.

A dialog's fields arrive as text (the console's form screen gives {field name: text}); the
models here read that text once, with the console's rules (blank means "not given", numbers
normalised, dates in the account's time zone, weekdays as seven checkboxes), and hand out
the typed request the client sends: `NewCampaign`, `NewOrder`, `AddCall`, `CampaignFilter`,
`BuyNumber`, `NewPhonebook`, `NewSound`. A bad field is a `ValidationError` naming it, so the
form can show what to fix before anything reaches Knowlarity.

No widgets here, and no I/O but reading a phone-list file the user named.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from console.api.dates import IST, parse_datetime
from console.api.requests import CampaignFilter, NewCampaign, NewOrder
from console.phonelist import PhoneList, check_number, parse_phone_text, read_phone_file

__all__ = [
    "WEEKDAYS",
    "AddCall",
    "AddCallForm",
    "AgentNumber",
    "AvailableFilter",
    "AvailableFilterForm",
    "BotHangup",
    "BotSay",
    "BotTransfer",
    "BuyNumber",
    "BuyNumberForm",
    "CampaignFilterForm",
    "CampaignForm",
    "CampaignNumbers",
    "CampaignStatusChange",
    "JumpTo",
    "NewPhonebook",
    "NewSound",
    "NotificationSwitch",
    "OrderForm",
    "OtpCall",
    "PhoneNumber",
    "PhonebookForm",
    "PlanChoice",
    "RegisterNumber",
    "SoundForm",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RATINGS = {"-1", "0", "1", "2", "3", "4", "5"}


def _blank(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _when(value: str | None, label: str, *, end_of_day: bool = False) -> datetime | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        parsed = parse_datetime(text)
    except ValueError:
        raise ValueError(f"{label} “{text}” is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)") from None
    if end_of_day and len(text) <= 10:
        parsed = parsed + timedelta(days=1) - timedelta(seconds=1)
    return parsed


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def _numbers(text: str, label: str) -> list[str]:
    parsed = parse_phone_text(text)
    if parsed.bad:
        first = "; ".join(str(b) for b in parsed.bad[:3])
        raise ValueError(f"{label}: {first}")
    return parsed.numbers


class _Form(BaseModel):
    """Field values as typed; every field is text (or a checkbox's "true"/"false")."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


# ---- campaigns and orders -------------------------------------------------------------------


class _OutboundForm(_Form):
    sound_id: str = ""            # the picker of approved sounds ("" = none)
    ivr_id: str = ""              # or an IVR flow id (no API lists those)
    k_number: str = ""
    additional_number: str = ""   # numbers to call, besides the phonebook's
    phonebook: str = ""           # the picker of phonebooks ("" = none)
    start_time: str = ""
    end_time: str = ""
    timezone: str = "Asia/Kolkata"
    priority: str = ""
    order_throttling: str = ""
    call_scheduling_start_time: str = ""
    call_scheduling_stop_time: str = ""
    is_transactional: str = "false"
    mon: str = "true"
    tue: str = "true"
    wed: str = "true"
    thu: str = "true"
    fri: str = "true"
    sat: str = "false"
    sun: str = "false"

    def _common(self) -> dict[str, Any]:
        if self.sound_id and self.ivr_id:
            raise ValueError("choose a sound or type an IVR id, not both")
        start = _when(self.start_time, "start")
        if start is None:
            raise ValueError("start is required")
        schedule = [1 if _flag(getattr(self, day)) else 0 for day in WEEKDAYS]
        if not any(schedule):
            raise ValueError("tick at least one weekday to call on")
        return {
            "sound_id": _blank(self.sound_id), "ivr_id": _blank(self.ivr_id), "k_number": self.k_number,
            "additional_number": _numbers(self.additional_number, "numbers") or None,
            "phonebook": _blank(self.phonebook), "start_time": start,
            "end_time": _when(self.end_time, "end"), "timezone": self.timezone or "Asia/Kolkata",
            "priority": _blank(self.priority), "order_throttling": _blank(self.order_throttling),
            "call_scheduling": schedule,
            "call_scheduling_start_time": _blank(self.call_scheduling_start_time),
            "call_scheduling_stop_time": _blank(self.call_scheduling_stop_time),
            "is_transactional": _flag(self.is_transactional),
        }


class CampaignForm(_OutboundForm):
    """The New campaign dialog: every documented field of POST call/campaign."""

    retry_duration: str = ""
    max_retry: str = ""

    def to_request(self) -> NewCampaign:
        return NewCampaign(**self._common(), retry_duration=_blank(self.retry_duration),
                           max_retry=_blank(self.max_retry))


class OrderForm(_OutboundForm):
    """The New call-center order dialog: POST call-center/create_order/, with the
    mandatory `Ivr_disp_num` and the plan; `outbound_callcenter` is always 1."""

    ivr_disp_num: str = ""
    user_plan_id: str = ""

    def to_request(self) -> NewOrder:
        if not self.ivr_disp_num:
            raise ValueError("Ivr_disp_num (the SR number of the Enterprise SIVR plan) is required")
        return NewOrder(**self._common(), ivr_disp_num=self.ivr_disp_num,
                        user_plan_id=_blank(self.user_plan_id), outbound_callcenter=True)


class AddCall(BaseModel):
    """PUT call-center/add_call_to_order: numbers for an order, with their retries."""

    model_config = ConfigDict(extra="forbid")

    order_id: str
    phone_numbers: list[str] = Field(min_length=1)
    call_times_retry: int | None = Field(default=None, ge=0, le=10)
    retry_timedelta: int | None = Field(default=None, ge=0, le=1440)


class AddCallForm(_Form):
    numbers: str = ""
    call_times_retry: str = ""
    retry_timedelta: str = ""

    def to_request(self, order_id: str) -> AddCall:
        numbers = _numbers(self.numbers, "numbers")
        if not numbers:
            raise ValueError("give at least one number")
        return AddCall(order_id=order_id, phone_numbers=numbers, call_times_retry=_blank(self.call_times_retry),
                       retry_timedelta=_blank(self.retry_timedelta))


class CampaignFilterForm(_Form):
    """The campaign list's filter dialog: every documented GET call/campaign filter."""

    order_id: str = ""
    ivr_id: str = ""
    phonebook_id: str = ""
    is_transactional: str = ""     # "", "true", "false"
    created_from: str = ""
    created_to: str = ""
    start_from: str = ""
    start_to: str = ""
    end_from: str = ""
    end_to: str = ""

    def to_request(self) -> CampaignFilter:
        kind = self.is_transactional.lower()
        return CampaignFilter(
            order_id=_blank(self.order_id), ivr_id=_blank(self.ivr_id), phonebook_id=_blank(self.phonebook_id),
            is_transactional=None if kind not in ("true", "false") else kind == "true",
            created_time__gte=_when(self.created_from, "created from"),
            created_time__lte=_when(self.created_to, "created to", end_of_day=True),
            start_time__gte=_when(self.start_from, "start from"),
            start_time__lte=_when(self.start_to, "start to", end_of_day=True),
            end_time__gte=_when(self.end_from, "end from"),
            end_time__lte=_when(self.end_to, "end to", end_of_day=True),
        )

    def describe(self) -> str:
        """The filters in words, for the list's title ("" when none)."""
        names = {"order_id": "order", "ivr_id": "ivr", "phonebook_id": "phonebook", "is_transactional": "transactional",
                 "created_from": "created ≥", "created_to": "created ≤", "start_from": "start ≥",
                 "start_to": "start ≤", "end_from": "end ≥", "end_to": "end ≤"}
        return ", ".join(f"{label} {getattr(self, name)}" for name, label in names.items() if getattr(self, name))


# ---- numbers ---------------------------------------------------------------------------------------


class AvailableFilter(BaseModel):
    """GET numbers/AvailablePhoneNumbers: every documented filter."""

    circle_id: str
    cli_type: int | None = None            # 1: numbers usable as the outgoing caller id
    number_rating: int | None = None       # -1 every rating, else 0 Regular .. 5 Platinum
    number_type: str | None = None         # mobile | landline | tollfree
    pattern: str | None = None             # "^+9190" starts, "9069" contains, "8967$" ends


class AvailableFilterForm(_Form):
    circle_id: str = ""
    cli: str = "false"
    rating: str = ""          # "" (the server's default, Regular), "-1", "0".."5"
    number_type: str = ""     # "", mobile, landline, tollfree
    match: str = "contains"   # starts | contains | ends
    digits: str = ""

    @field_validator("digits")
    @classmethod
    def _digits(cls, value: str) -> str:
        if value and not re.fullmatch(r"\+?\d{1,15}", value):
            raise ValueError("the pattern is digits (with a leading + if you like)")
        return value

    def to_request(self) -> AvailableFilter:
        if not self.circle_id:
            raise ValueError("choose a circle first")
        if self.rating and self.rating not in _RATINGS:
            raise ValueError("rating is -1 (all) or 0..5")
        pattern = None
        if self.digits:
            pattern = {"starts": f"^{self.digits}", "ends": f"{self.digits}$"}.get(self.match, self.digits)
        return AvailableFilter(
            circle_id=self.circle_id, cli_type=1 if _flag(self.cli) else None,
            number_rating=int(self.rating) if self.rating else None,
            number_type=self.number_type or None, pattern=pattern,
        )


class PlanChoice(BaseModel):
    """A plan a number can be bought for: its id, name and expiry."""

    userplan_id: str
    name: str
    expiry: datetime | None = None
    active: bool = True


class BuyNumber(BaseModel):
    """POST numbers: a number for a plan until an expiry within the plan's."""

    number: str
    user_plan_id: str
    expiry_time: datetime
    cli_outgoing: bool = False


class BuyNumberForm(_Form):
    number: str = ""
    user_plan_id: str = ""
    expiry: str = ""
    cli: str = "false"

    def to_request(self, plans: dict[str, PlanChoice], now: datetime | None = None) -> BuyNumber:
        """Checked as the docs say: the expiry is after now and no later than the plan's."""
        now = now or datetime.now(IST)
        if not self.number:
            raise ValueError("choose a number to buy")
        plan = plans.get(self.user_plan_id)
        if plan is None:
            raise ValueError("choose the plan to buy it for")
        if not plan.active:
            raise ValueError(f"plan {plan.userplan_id} is not active")
        expiry = _when(self.expiry, "expiry")
        if expiry is None:
            if plan.expiry is None:
                raise ValueError("give an expiry date")
            expiry = plan.expiry
        elif len(self.expiry) <= 10:
            # a date alone: the end of that day, but never past the plan's own expiry
            expiry = datetime.combine(expiry.date(), time(23, 59, 0), expiry.tzinfo)
            if plan.expiry is not None and expiry > plan.expiry and expiry.date() == plan.expiry.date():
                expiry = plan.expiry
        if expiry <= now:
            raise ValueError("the expiry must be in the future")
        if plan.expiry is not None and expiry > plan.expiry:
            raise ValueError(f"the expiry is after the plan's ({plan.expiry:%Y-%m-%d %H:%M}); the docs allow "
                             "at most the plan's expiry")
        return BuyNumber(number=self.number, user_plan_id=plan.userplan_id, expiry_time=expiry,
                         cli_outgoing=_flag(self.cli))


# ---- phonebooks and sounds ---------------------------------------------------------------------------


class NewPhonebook(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    numbers: PhoneList

    model_config = ConfigDict(arbitrary_types_allowed=True)


class PhonebookForm(_Form):
    name: str = ""
    numbers: str = ""
    file: str = ""

    def to_request(self) -> NewPhonebook:
        """Numbers typed and/or read from a file; bad lines are kept in `numbers.bad`."""
        if not self.name:
            raise ValueError("give the phonebook a name")
        if not self.numbers and not self.file:
            raise ValueError("type numbers or give a CSV/text file of numbers")
        combined = PhoneList()
        seen: set[str] = set()
        parts = []
        if self.numbers:
            parts.append(parse_phone_text(self.numbers))
        if self.file:
            parts.append(read_phone_file(self.file))
        for part in parts:
            combined.bad.extend(part.bad)
            combined.duplicates += part.duplicates
            for number in part.numbers:
                if number in seen:
                    combined.duplicates += 1
                else:
                    seen.add(number)
                    combined.numbers.append(number)
        if not combined.numbers:
            raise ValueError("no usable number: " + ("; ".join(str(b) for b in combined.bad[:3]) or "the list is empty"))
        return NewPhonebook(name=self.name, numbers=combined)


class NewSound(BaseModel):
    """POST sound: a public mp3 or wav URL; it starts under approval."""

    name: str = Field(min_length=1, max_length=100)
    url: str
    language: str | None = None
    description: str | None = None

    @field_validator("url")
    @classmethod
    def _public_audio(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+/\S+$", value, re.IGNORECASE):
            raise ValueError("the sound must be a public http(s) URL")
        path = value.split("?", 1)[0].split("#", 1)[0].lower()
        if not path.endswith((".mp3", ".wav")):
            raise ValueError("the sound must be an mp3 or wav file (the URL ends in .mp3 or .wav)")
        host = value.split("/", 3)[2].split(":")[0].lower()
        if host in ("localhost", "127.0.0.1", "::1") or host.endswith(".local"):
            raise ValueError("the URL must be public: Knowlarity fetches it from the internet")
        return value


class SoundForm(_Form):
    name: str = ""
    url: str = ""
    language: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _name_from_url(self) -> SoundForm:
        if not self.name and self.url:
            self.name = self.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return self

    def to_request(self) -> NewSound:
        return NewSound(name=self.name, url=self.url, language=_blank(self.language),
                        description=_blank(self.description))


def default_start(minutes: int = 10) -> str:
    """A start time a few minutes from now, as the forms show it."""
    return (datetime.now(IST) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")


def plan_default_expiry(plan: PlanChoice) -> str:
    """The expiry a buy form offers: the plan's own (the latest the docs allow)."""
    return plan.expiry.strftime("%Y-%m-%d %H:%M") if plan.expiry else ""


# ---- the small dialogs: each makes one typed request, checked as the values enter ---------------


def _phone_number(value: Any) -> Any:
    """A number as typed -> its +91… form; anything that is no phone number is refused in words."""
    if not isinstance(value, str):
        return value
    number, reason = check_number(value)
    if number is None:
        text = value.strip()
        if not text:
            raise ValueError("a phone number is required")
        detail = _PHONE_DETAIL.get(reason, "")
        raise ValueError(f"“{text}” is not a phone number{f' ({detail})' if detail else ''}")
    return number


_PHONE_DETAIL = {"has letters in it": "it has letters", "is too short for a phone number": "too few digits",
                 "is too long for a phone number (15 digits at most)": "more than 15 digits"}


def _optional(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


PhoneNumber = Annotated[str, BeforeValidator(_phone_number)]
"""A phone number in the console's one form (+91…), checked by the rules phone lists use."""


class _Request(BaseModel):
    """A dialog's request: frozen, no unknown fields, text trimmed."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class AgentNumber(_Request):
    """My agent number: the console picks "my calls" out of the account's stream by it."""

    agent_number: PhoneNumber


class RegisterNumber(_Request):
    """POST notification registration of an SR number (make call needs it first)."""

    number: PhoneNumber


class NotificationSwitch(_Request):
    """Live notifications on or off for a registered SR number."""

    number: str = Field(min_length=1)
    enable: bool


class OtpCall(_Request):
    """An OTP voice call: the IVR (an approved sound's id, or a typed IVR id), from an SR number
    to a customer, by phone or WhatsApp. The dialog's sound picker and IVR field are one value
    here: give one of them, not both."""

    ivr_id: str
    k_number: PhoneNumber
    customer_number: PhoneNumber
    channel: Literal["PSTN", "Whatsapp"] = "PSTN"
    call_permission_request: bool = False

    @model_validator(mode="before")
    @classmethod
    def _sound_or_ivr(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "sound_id" not in data:
            return data
        data = dict(data)
        sound, ivr = str(data.pop("sound_id") or "").strip(), str(data.get("ivr_id") or "").strip()
        if sound and ivr:
            raise ValueError("pick a sound or type an IVR id, not both")
        data["ivr_id"] = ivr or sound
        return data

    @field_validator("ivr_id")
    @classmethod
    def _ivr_given(cls, value: str) -> str:
        if not value:
            raise ValueError("IVR id is required (or pick a sound)")
        return value

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_name(cls, value: Any) -> Any:
        return {"pstn": "PSTN", "whatsapp": "Whatsapp"}.get(value.strip().lower(), value) if isinstance(value, str) else value

    @property
    def whatsapp(self) -> bool:
        return self.channel == "Whatsapp"


class CampaignNumbers(_Request):
    """More numbers for a Pending or In Progress campaign: typed or pasted, `;` or `,` between."""

    order_id: str = Field(min_length=1)
    numbers: tuple[str, ...] = Field(min_length=1)

    @field_validator("numbers", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(_numbers(value, "numbers"))
        return value


class CampaignStatusChange(_Request):
    """Pause, resume or stop a campaign."""

    order_id: str = Field(min_length=1)
    status: Literal["pause", "resume", "stop"]


class BotTransfer(_Request):
    """Hand a bot call to a person: a number, or none for the bot's own transfer number."""

    call_id: str = Field(min_length=1)
    destination: Annotated[PhoneNumber | None, BeforeValidator(_optional)] = None


class BotSay(_Request):
    """A line the bot speaks into a call now (spaces collapsed; 1,000 characters at most)."""

    call_id: str = Field(min_length=1)
    text: str

    @field_validator("text", mode="before")
    @classmethod
    def _one_line(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = " ".join(value.split())
        if not text:
            raise ValueError("type a line for the bot to say")
        if len(text) > 1000:
            raise ValueError("that line is too long (1000 characters at most)")
        return text


class BotHangup(_Request):
    call_id: str = Field(min_length=1)


_POSITION = re.compile(r"^\s*(?:(\d+):)?(\d+(?:\.\d*)?)\s*s?\s*$")


class JumpTo(_Request):
    """A place in a recording: "75", "75.5", "2.5s", "1:15" or "1:15.5" -> seconds from its start."""

    at: float = Field(ge=0)

    @field_validator("at", mode="before")
    @classmethod
    def _position(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        match = _POSITION.match(value)
        if match is None:
            raise ValueError("give seconds (75) or minutes:seconds (1:15)")
        return int(match.group(1) or 0) * 60 + float(match.group(2))
