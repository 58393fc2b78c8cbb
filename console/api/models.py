"""Typed models of every REST payload Knowlarity documents.

Each model is built from the documentation's own sample response (tests feed the samples in
verbatim) and stays tolerant: field types come from `loose.py`, unknown fields are kept, and
nothing here fails on the documented oddities (string counts, "$None", dates without their
space, `call_scheduling` as a string). Call-log models live in `calllog.py`, stream events in
`events.py`; all are re-exported from here and from `console.api`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import Field, model_validator

from .calllog import CallLogMeta, CallLogPage, CallLogRecord
from .events import CallEvent, Cdr, EventType, StreamItem, UnknownEvent, parse_event
from .loose import (
    CallScheduling,
    KModel,
    LooseBool,
    LooseDatetime,
    LooseId,
    LooseInt,
    LooseSecret,
    LooseStr,
)

__all__ = [
    "PLAN_TYPES",
    "SOUND_STATUS",
    "AddCallResult",
    "AddNumbersResult",
    "Agent",
    "AppType",
    "AvailableNumber",
    "BoughtNumber",
    "BuyNumberResult",
    "CallEvent",
    "CallLogMeta",
    "CallLogPage",
    "CallLogRecord",
    "Campaign",
    "Cdr",
    "Circle",
    "DetailedCallLog",
    "EventType",
    "MakeCallResult",
    "MessageResult",
    "Meta",
    "NotificationRegistration",
    "OrderResult",
    "OtpCallResult",
    "Page",
    "Phonebook",
    "PhonebookUploadResult",
    "Plan",
    "Sound",
    "SoundUploadResult",
    "StreamItem",
    "Task",
    "UnknownEvent",
    "UserRef",
    "parse_event",
]

T = TypeVar("T")


class Meta(KModel):
    """Pagination block of list responses; counts may arrive as strings, `next` as ""/null."""

    limit: LooseInt = None
    offset: LooseInt = None
    total_count: LooseInt = None
    next: LooseStr = None
    previous: LooseStr = None


class Page(KModel, Generic[T]):
    """A `{"meta": ..., "objects": [...]}` list response."""

    meta: Meta = Field(default_factory=Meta)
    objects: list[T] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, data: Any) -> Any:
        # Some list endpoints answer with the bare list; accept it as one page.
        if isinstance(data, list):
            return {"objects": data}
        if isinstance(data, dict) and data.get("objects") is None:
            return {**data, "objects": []}
        return data


# -- numbers, circles, plans -----------------------------------------------------------


class BoughtNumber(KModel):
    """A number the account owns (GET numbers)."""

    phone_number: LooseStr = None
    cli_type: LooseStr = None
    number_type: LooseStr = None
    number_rating: LooseInt = None
    created_time: LooseDatetime = None
    expiry_time: LooseDatetime = None
    is_expired: LooseBool = None


class Circle(KModel):
    """A telco circle (GET numbers/Circle); its id filters AvailablePhoneNumbers."""

    id: LooseId = None
    city: LooseStr = None


PLAN_TYPES = {
    "E": "Enterprise", "D": "Demo", "P": "Paid", "I": "Internal",
    "T": "International", "H": "Channel partner", "C": "Complementary",
}


class Plan(KModel):
    """A plan of the account (GET plans)."""

    userplan_id: LooseId = None
    plan_name: LooseStr = None
    plan_type: LooseStr = None
    is_active: LooseBool = None
    created_date: LooseDatetime = None
    expiry_time: LooseDatetime = None

    @property
    def plan_type_label(self) -> str:
        return PLAN_TYPES.get((self.plan_type or "").upper(), self.plan_type or "")


class AvailableNumber(KModel):
    """A number that can be bought (GET numbers/AvailablePhoneNumbers)."""

    number: LooseStr = None
    number_type: LooseStr = None
    number_rating: LooseInt = None
    circle_id: LooseId = None
    provider_name: LooseStr = None


class BuyNumberResult(KModel):
    """POST numbers: `{message, Number}`."""

    message: LooseStr = None
    number: LooseStr = Field(default=None, alias="Number")


# -- phonebooks and sounds ---------------------------------------------------------------


class Phonebook(KModel):
    id: LooseId = None
    phonebookname: LooseStr = None
    phonebookfile: LooseStr = None
    description: LooseStr = None
    row_count: LooseInt = None
    duplicates_count: LooseInt = None
    invalid_count: LooseInt = None
    ndnc_count: LooseInt = None
    timestamp: LooseDatetime = None


def _messages(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


class PhonebookUploadResult(KModel):
    """POST phonebook: `{"msg": [...], "id": 1}`."""

    id: LooseId = None
    msg: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _msg_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and "msg" in data:
            return {**data, "msg": _messages(data["msg"])}
        return data


SOUND_STATUS = {0: "Under Approval", 1: "Approved", 2: "Rejected"}


class Sound(KModel):
    """A sound of the account; only approved sounds (status 1) can be used in campaigns."""

    id: LooseId = None
    soundname: LooseStr = None
    soundfile: LooseStr = None
    language: LooseStr = None
    description: LooseStr = None
    comment: LooseStr = None
    status: LooseInt = None
    date: LooseDatetime = None

    @property
    def status_label(self) -> str:
        if self.status is None:
            return "Unknown"
        return SOUND_STATUS.get(self.status, f"Unknown ({self.status})")

    @property
    def approved(self) -> bool:
        return self.status == 1


class SoundUploadResult(PhonebookUploadResult):
    """POST sound: `{"msg": [...], "status": "0", "id": 157777}`."""

    status: LooseInt = None

    @property
    def status_label(self) -> str:
        return SOUND_STATUS.get(self.status, "Unknown") if self.status is not None else "Unknown"


# -- campaigns and call-center orders --------------------------------------------------------


class Campaign(KModel):
    """An outbound campaign (GET call/campaign)."""

    order_id: LooseId = None
    order_status: LooseStr = None
    ivr: LooseStr = None
    ivr_id: LooseId = None
    phonebook_id: LooseId = None
    additional_number: LooseStr = None
    caller_id: LooseStr = None
    call_scheduling: CallScheduling = None
    call_scheduling_start_time: LooseStr = None
    call_scheduling_stop_time: LooseStr = None
    created_time: LooseDatetime = None
    start_time: LooseDatetime = None
    end_time: LooseDatetime = None
    is_transactional: LooseBool = None
    ndnc_count: LooseInt = None
    optin_key: LooseStr = None
    order_throttling: LooseStr = None  # "0/10": calls in flight / maximum
    priority: LooseInt = None
    retry_duration: LooseInt = None
    max_retry: LooseInt = None
    timezone: LooseStr = None
    total_calls: LooseInt = None

    @property
    def scheduled_days(self) -> list[str]:
        days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
        return [day for day, on in zip(days, self.call_scheduling or [], strict=False) if on]


class OrderResult(KModel):
    """POST call/campaign and call-center/create_order: `{order_id, result, status_code}`."""

    order_id: LooseId = None
    result: LooseStr = None
    status_code: LooseInt = None


class MessageResult(KModel):
    """A plain `{"message": "..."}` answer (campaign status, notification settings)."""

    message: LooseStr = None


class AddNumbersResult(KModel):
    """POST call/campaign/add-numbers: `{dnd_count, message, sivr_call_ids}`."""

    dnd_count: LooseInt = None
    message: LooseStr = None
    sivr_call_ids: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _ids(cls, data: Any) -> Any:
        if isinstance(data, dict) and "sivr_call_ids" in data:
            ids = data["sivr_call_ids"]
            ids = [] if ids in (None, "") else ids if isinstance(ids, list) else [ids]
            return {**data, "sivr_call_ids": [str(i) for i in ids]}
        return data


class AddCallResult(KModel):
    """PUT call-center/add_call_to_order: `{result, status_code}`."""

    result: LooseStr = None
    status_code: LooseInt = None


# -- agents and tasks --------------------------------------------------------------------------


class Agent(KModel):
    """An agent (GET agent, agent/{id}). The documented sample carries no phone number;
    accounts that expose one (and the sandbox) send `phone_number`, kept here."""

    id: LooseId = None
    first_name: LooseStr = None
    last_name: LooseStr = None
    agent_status: LooseStr = None
    callcenter_role: LooseStr = None
    call_groups: list[str] = Field(default_factory=list)
    phone_number: LooseStr = None
    email: LooseStr = None

    @model_validator(mode="before")
    @classmethod
    def _groups(cls, data: Any) -> Any:
        if isinstance(data, dict) and "call_groups" in data:
            groups = data["call_groups"]
            groups = [] if groups in (None, "") else groups if isinstance(groups, list) else [groups]
            return {**data, "call_groups": [str(g) for g in groups if str(g).strip() not in ("", "-")]}
        return data

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or (self.id or "")


class Task(KModel):
    """A follow-up task (missed call) (GET tasks, tasks/{id})."""

    id: LooseId = None
    type: LooseStr = None
    phone: LooseStr = None
    agent_id: LooseId = None
    contact_id: LooseId = None
    callrecord_uuid: LooseStr = None
    call_missed_dt: LooseDatetime = None
    created_dt: LooseDatetime = None
    modified_dt: LooseDatetime = None
    completed_dt: LooseDatetime = None
    duedate: LooseDatetime = None
    completed_via: LooseStr = None
    created_by: LooseStr = None
    is_completed: LooseBool = None


# -- calls -------------------------------------------------------------------------------------


class MakeCallResult(KModel):
    """POST call/makecall success: the `success` object `{status, message}`."""

    status: LooseStr = None
    message: LooseStr = None
    call_id: LooseStr = None


class OtpCallResult(KModel):
    """GET otpcall success: the `success` object `{call_id, message, status}`."""

    call_id: LooseStr = None
    message: LooseStr = None
    status: LooseStr = None


# -- notifications -----------------------------------------------------------------------------


class AppType(KModel):
    id: LooseId = None
    name: LooseStr = None
    resource_uri: LooseStr = None


class UserRef(KModel):
    id: LooseId = None
    username: LooseStr = None
    resource_uri: LooseStr = None


class NotificationRegistration(KModel):
    """A number registered for live notifications (GET notifications).

    `k_api_key`, `app_api_key` and `app_data` (which carries a CRM password in the
    documentation's own sample) are kept as secrets, never shown in a repr.
    """

    id: LooseId = None
    k_number: LooseStr = None
    k_number_cc: LooseStr = None
    enable: LooseBool = None
    expired: LooseBool = None
    product: LooseStr = None
    app_type: AppType | None = None
    app_url: LooseStr = None
    app_api_key: LooseSecret = None
    app_data: LooseSecret = None
    k_api_key: LooseSecret = None
    konnect_api_client: Any = None
    date_updated: LooseDatetime = None
    resource_uri: LooseStr = None
    user: UserRef | None = None


class DetailedCallLog(KModel):
    """GET call/get-detailed-call-log: the `message` object of one call, with its IVR trail.

    `events` is the platform's internal key/value trail (free-form), kept as a dict.
    """

    id: LooseId = None
    unique_id: LooseStr = None
    caller: LooseStr = None
    called: LooseStr = None
    call_type: LooseStr = None
    hangup_cause: LooseInt = None
    priority: LooseInt = None
    attempt_number: LooseInt = None
    fs: LooseStr = None
    fs_chan_info: LooseStr = None
    ivr_refnum: LooseStr = None
    did_number: LooseStr = None
    ref_uuid: LooseStr = None
    caller_in_fs: LooseStr = None
    start_time: LooseDatetime = None
    end_time: LooseDatetime = None
    pickup_time: LooseDatetime = None
    hangup_time: LooseDatetime = None
    posting_time: LooseDatetime = None
    order_time: LooseDatetime = None
    events: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("message"), dict) and "unique_id" not in data:
            data = data["message"]
        if isinstance(data, dict) and not isinstance(data.get("events", {}), dict):
            data = {**data, "events": {"value": data["events"]}}
        return data

    @property
    def duration(self) -> int | None:
        if self.start_time and self.end_time:
            return max(0, round((self.end_time - self.start_time).total_seconds()))
        return None
