"""Validated request bodies for the actions that create things.

Creating a campaign or an order rings real customers, so the body is checked here, before
anything is sent: required fields, priority 1..10, seven scheduling days, a phonebook or
numbers to call. The wire format follows the documentation (times as `yyyy-MM-dd HH:mm`,
`call_scheduling` as the string "[1, 1, 1, 1, 1, 0, 0]", numbers joined with ";").
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .dates import IST, format_api_date, format_api_minute
from .loose import CallScheduling, StrictDatetime

__all__ = ["CampaignFilter", "NewCampaign", "NewOrder", "join_numbers"]

_HHMM = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?$")


def join_numbers(numbers: str | list[str] | tuple[str, ...] | None) -> str:
    """Numbers as Knowlarity takes them in one field: "+91...;+91..."."""
    if numbers is None:
        return ""
    if isinstance(numbers, str):
        items = re.split(r"[;,\n]", numbers)
    else:
        items = list(numbers)
    return ";".join(n.strip() for n in items if n and n.strip())


def _tz(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except Exception:  # noqa: BLE001 - no tz database on this machine: Knowlarity's default zone
        return IST


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Outbound(_Request):
    sound_id: int | str | None = None
    ivr_id: int | str | None = None
    phonebook: int | str | None = None
    additional_number: list[str] | str | None = None
    timezone: str = "Asia/Kolkata"
    priority: int | None = Field(default=None, ge=1, le=10)
    order_throttling: int | None = Field(default=None, ge=1)
    start_time: StrictDatetime
    end_time: StrictDatetime | None = None
    call_scheduling: CallScheduling = None
    call_scheduling_start_time: str | None = None
    call_scheduling_stop_time: str | None = None
    k_number: str
    is_transactional: bool | None = None

    @field_validator("call_scheduling_start_time", "call_scheduling_stop_time")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM.match(value.strip()):
            raise ValueError("must be a time of day like 09:00")
        return value.strip() if value else value

    @field_validator("k_number")
    @classmethod
    def _k_number(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("k_number (the SR number) is required")
        return value.strip()

    @model_validator(mode="after")
    def _targets(self) -> Any:
        if self.sound_id in (None, "") and self.ivr_id in (None, ""):
            raise ValueError("give sound_id or ivr_id (an approved sound or IVR)")
        if self.phonebook in (None, "") and not join_numbers(self.additional_number):
            raise ValueError("give a phonebook or additional_number: there is nobody to call")
        if self.end_time is not None and self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self

    def _minute(self, value: datetime) -> str:
        return format_api_minute(value, _tz(self.timezone))

    def _common(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.sound_id not in (None, ""):
            body["sound_id"] = self.sound_id
        if self.ivr_id not in (None, ""):
            body["ivr_id"] = self.ivr_id
        if self.phonebook not in (None, ""):
            body["phonebook"] = self.phonebook
        body["timezone"] = self.timezone
        for name in ("priority", "order_throttling"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        body["start_time"] = self._minute(self.start_time)
        if self.end_time is not None:
            body["end_time"] = self._minute(self.end_time)
        for name in ("call_scheduling_start_time", "call_scheduling_stop_time"):
            if getattr(self, name):
                body[name] = getattr(self, name)
        body["k_number"] = self.k_number
        return body


class NewCampaign(_Outbound):
    """POST call/campaign: a K-Broadcast campaign."""

    retry_duration: int | None = Field(default=None, ge=0)
    max_retry: int | None = Field(default=None, ge=0)

    def to_body(self) -> dict[str, Any]:
        body = self._common()
        for name in ("retry_duration", "max_retry"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        if self.call_scheduling is not None:
            body["call_scheduling"] = "[" + ", ".join(str(d) for d in self.call_scheduling) + "]"
        body["additional_number"] = join_numbers(self.additional_number)
        if self.is_transactional is not None:
            body["is_transactional"] = "True" if self.is_transactional else "False"
        return body


class NewOrder(_Outbound):
    """POST call-center/create_order/: an outbound call-center order.

    The documentation marks `Ivr_disp_num` mandatory (the SR number of the SIVR plan) while
    its own examples omit it; it defaults to `k_number`. `additional_number` "has to be
    passed every time", so it is always sent (empty when a phonebook is used).
    """

    ivr_disp_num: str | None = Field(default=None, alias="Ivr_disp_num")
    user_plan_id: int | str | None = None
    outbound_callcenter: bool = True

    def to_body(self) -> dict[str, Any]:
        body = self._common()
        if self.call_scheduling is not None:
            body["call_scheduling"] = list(self.call_scheduling)
        body["additional_number"] = join_numbers(self.additional_number)
        if self.is_transactional is not None:
            body["is_transactional"] = 1 if self.is_transactional else 0
        if self.user_plan_id not in (None, ""):
            body["user_plan_id"] = self.user_plan_id
        if self.outbound_callcenter:
            body["outbound_callcenter"] = 1
        body["Ivr_disp_num"] = self.ivr_disp_num or self.k_number
        return body


_FilterTime = datetime | date | str


class CampaignFilter(_Request):
    """Every documented GET call/campaign filter; an unknown name is an error, not ignored."""

    order_id: int | str | None = None
    created_time__gte: _FilterTime | None = None
    created_time__lte: _FilterTime | None = None
    end_time__gt: _FilterTime | None = None
    end_time__gte: _FilterTime | None = None
    end_time__lt: _FilterTime | None = None
    end_time__lte: _FilterTime | None = None
    is_transactional: bool | None = None
    ivr_id: int | str | None = None
    phonebook_id: int | str | None = None
    start_time__gt: _FilterTime | None = None
    start_time__gte: _FilterTime | None = None
    start_time__lt: _FilterTime | None = None
    start_time__lte: _FilterTime | None = None

    def to_params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, bool):
                params[name] = "True" if value else "False"
            elif isinstance(value, (date, datetime)):
                params[name] = format_api_date(value)
            else:
                params[name] = str(value)
        return params
