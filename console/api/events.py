"""Items of the live notification stream, exactly as the CTI section documents them.

Two families share the stream and name things differently:

- telephony events carry `event_type` (ORIGINATE, AGENT_CALL, AGENT_ANSWER, CUSTOMER_CALL,
  CUSTOMER_ANSWER, BRIDGE, HANGUP, and ORIGINATE_AGENT_CALL, which the notifications overview
  names for a call placed from the web panel) -- the field table calls it `event`, the sample
  `event_type`; both are accepted;
- the call detail record carries `"type": "CDR"` and its own field names (`caller_id`,
  `dispnumber`, `Call_Type`, `call_duration`, `resource_url`, `timezone_offset`).

Anything else is kept as `UnknownEvent` with its data, never dropped: a supervisor would
rather see an odd row than miss a call. `k_api_key` (documented as "ignore") is a key, so it
is held as a secret and scrubbed from the raw data every item keeps.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from .calllog import CallLogRecord
from .loose import KModel, LooseDatetime, LooseInt, LooseSecret, LooseStr, looks_secret
from .phone import normalize_number

__all__ = ["CallEvent", "Cdr", "EventType", "StreamItem", "UnknownEvent", "parse_event", "scrub"]


class EventType(StrEnum):
    ORIGINATE = "ORIGINATE"
    # "the call has been originated from the SuperReceptionist web panel to the agent's
    # number" (the notifications overview names it; the CTI table does not list it)
    ORIGINATE_AGENT_CALL = "ORIGINATE_AGENT_CALL"
    AGENT_CALL = "AGENT_CALL"
    AGENT_ANSWER = "AGENT_ANSWER"
    CUSTOMER_CALL = "CUSTOMER_CALL"
    CUSTOMER_ANSWER = "CUSTOMER_ANSWER"
    BRIDGE = "BRIDGE"
    HANGUP = "HANGUP"


def scrub(data: Any) -> Any:
    """A copy of `data` with credential-looking fields replaced by "***"."""
    if isinstance(data, dict):
        return {k: ("***" if looks_secret(str(k)) and v not in (None, "") else scrub(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [scrub(v) for v in data]
    return data


def _numbers_match(number: str | None, wanted: str | None) -> bool:
    a, b = normalize_number(number), normalize_number(wanted)
    return bool(a and b and a == b and a.lstrip("+").isdigit())


class _StreamModel(KModel):
    received_at: datetime | None = Field(default=None, description="when the console got it")
    raw: dict[str, Any] = Field(default_factory=dict, repr=False, exclude=True)


class CallEvent(_StreamModel):
    """A telephony event of a live call."""

    event_type: EventType
    uuid: LooseStr = None
    call_direction: LooseStr = None
    business_call_type: LooseStr = None
    agent_number: LooseStr = None
    customer_number: LooseStr = None
    knowlarity_number: LooseStr = None
    call_recording: LooseStr = None
    call_type: LooseStr = None
    called: LooseStr = None
    application: LooseStr = None
    k_api_key: LooseSecret = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if not data.get("event_type") and data.get("event"):
            data["event_type"] = data["event"]
        if isinstance(data.get("event_type"), str):
            data["event_type"] = data["event_type"].strip().upper()
        if not data.get("knowlarity_number") and data.get("k_number"):
            data["knowlarity_number"] = data["k_number"]
        return data

    @property
    def event(self) -> EventType:
        return self.event_type

    @property
    def kind(self) -> str:
        return self.event_type.value

    @property
    def dedupe_key(self) -> tuple[str, ...] | None:
        """(uuid, event type), plus the agent for agent legs: a call that rings a group's
        agents one after another has one AGENT_CALL per agent, and each is news."""
        if not self.uuid:
            return None
        if self.event_type in (EventType.AGENT_CALL, EventType.AGENT_ANSWER, EventType.ORIGINATE_AGENT_CALL):
            return (self.uuid, self.kind, normalize_number(self.agent_number) or "")
        return (self.uuid, self.kind)

    def involves(self, number: str | None) -> bool:
        """True when `number` is this call's agent or customer (any formatting)."""
        return _numbers_match(self.agent_number, number) or _numbers_match(self.customer_number, number)


class Cdr(_StreamModel):
    """The call detail record sent when a call ends, or rebuilt from the call log after a
    reconnect (`backfilled=True`, with the `record` it came from)."""

    type: Literal["CDR"] = "CDR"
    uuid: LooseStr = None
    dispnumber: LooseStr = None
    business_call_type: LooseStr = None
    caller_id: LooseStr = None
    call_type: LooseStr = Field(default=None, alias="Call_Type")
    start_time: LooseDatetime = None
    end_time: LooseDatetime = None
    call_duration: LooseInt = None
    destination: LooseStr = None
    resource_url: LooseStr = None
    timezone_offset: LooseStr = None
    backfilled: bool = False
    record: CallLogRecord | None = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("type"), str):
            data["type"] = data["type"].strip().upper()
        if "Call_Type" not in data and "call_type" in data:
            data["Call_Type"] = data.pop("call_type")
        return data

    @property
    def kind(self) -> str:
        return "CDR"

    @property
    def dedupe_key(self) -> tuple[str, ...] | None:
        return (self.uuid, "CDR") if self.uuid else None

    @property
    def incoming(self) -> bool:
        return (self.call_type or "").strip().lower().startswith("in")

    @property
    def agent_number(self) -> str | None:
        """caller_id is the agent on outgoing calls, destination on incoming ones."""
        if self.record and self.record.agent_number:
            return self.record.agent_number
        return self.destination if self.incoming else self.caller_id

    @property
    def customer_number(self) -> str | None:
        if self.record and self.record.customer_number:
            return self.record.customer_number
        return self.caller_id if self.incoming else self.destination

    def involves(self, number: str | None) -> bool:
        return _numbers_match(self.agent_number, number) or _numbers_match(self.customer_number, number)

    @classmethod
    def from_call_log(cls, record: CallLogRecord) -> Cdr:
        """The CDR the stream would have sent for a call it did not deliver."""
        incoming = record.inbound
        agent, customer = record.agent_number, record.customer_number
        offset = None
        if record.start_time and record.start_time.utcoffset() is not None:
            minutes = int(record.start_time.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
            sign = "+" if minutes >= 0 else "-"
            offset = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        return cls(
            uuid=record.uuid,
            dispnumber=record.knowlarity_number,
            business_call_type=record.business_call_type,
            caller_id=customer if incoming else agent,
            call_type="Incoming" if incoming else "Outgoing",
            start_time=record.start_time,
            end_time=record.end_time,
            call_duration=record.duration,
            destination=(agent if incoming else customer) or record.destination,
            resource_url=record.recording_url,
            timezone_offset=offset,
            backfilled=True,
            record=record,
            raw=scrub(record.model_dump(mode="json")),
        )


class UnknownEvent(_StreamModel):
    """A stream message that is neither a known telephony event nor a CDR (or is one whose
    fields could not be read: `error` says why). Its data is kept, scrubbed of keys."""

    kind: str | None = None
    uuid: LooseStr = None
    error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def dedupe_key(self) -> tuple[str, ...] | None:
        return (self.uuid, self.kind) if self.uuid and self.kind else None


StreamItem = CallEvent | Cdr | UnknownEvent


def _summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "event"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _scalar_uuid(value: Any) -> str | None:
    """The uuid of a message whose fields failed to read, if it is usable as one at all."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def parse_event(data: Any, *, received_at: datetime | None = None) -> StreamItem:
    """Turn one decoded stream message into a typed item; ValueError if it is not an object."""
    if not isinstance(data, dict):
        raise ValueError(f"a stream message must be a JSON object, got {type(data).__name__}")
    raw = scrub(data)
    kind_type = data.get("type")
    kind_event = data.get("event_type") or data.get("event")
    if isinstance(kind_type, str) and kind_type.strip().upper() == "CDR":
        try:
            return Cdr.model_validate({**data, "received_at": received_at, "raw": raw})
        except ValidationError as exc:
            return UnknownEvent(kind="CDR", uuid=_scalar_uuid(data.get("uuid")), error=_summary(exc), data=raw, raw=raw,
                received_at=received_at)
    if isinstance(kind_event, str) and kind_event.strip().upper() in EventType.__members__:
        try:
            return CallEvent.model_validate({**data, "received_at": received_at, "raw": raw})
        except ValidationError as exc:
            kind = kind_event.strip().upper()
            return UnknownEvent(kind=kind, uuid=_scalar_uuid(data.get("uuid")), error=_summary(exc), data=raw, raw=raw,
                received_at=received_at)
    label = kind_event if isinstance(kind_event, str) else kind_type if isinstance(kind_type, str) else None
    uuid = data.get("uuid")
    return UnknownEvent(
        kind=label.strip() if label else None,
        uuid=str(uuid) if uuid not in (None, "") else None,
        data=raw,
        raw=raw,
        received_at=received_at,
    )
