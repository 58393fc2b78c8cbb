"""The call log (POST sr/calllog): records, the page with its `next` cursor, and the query.

`CallLogQuery` validates before anything is sent: `limit` 1..200 and a start-time range of at
most three months are Knowlarity's documented limits, so a bad query is a clear local error
instead of a round trip and a vague 400.

Paging uses the documented `offset` ("count of records to be skip"): the page after one of
`limit` rows at `offset` is the same query at `offset + rows received`. The `next` cursor
in a page's meta is kept as a hint only (`CallLogPage.next_cursor`): the documentation never
says the server takes it back, so the console never sends it. A page shorter than its
limit, an empty page, or `total_count` reached (when `get_total` was asked for) ends it.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .dates import format_api_datetime
from .loose import KModel, LooseDatetime, LooseId, LooseInt, LooseStr, StrictDatetime

__all__ = [
    "DEFAULT_CALL_LOG_LIMIT",
    "MAX_CALL_LOG_LIMIT",
    "CallLogMeta",
    "CallLogPage",
    "CallLogQuery",
    "CallLogRecord",
    "SolutionType",
]

MAX_CALL_LOG_LIMIT = 200
DEFAULT_CALL_LOG_LIMIT = 20
SolutionType = Literal["all", "IBD", "OBD", "C2C", "IBD_CC", "sequential", "predictive"]


class CallLogRecord(KModel):
    """One finished call. Field names agreed with the sandbox; unknown ones are kept."""

    uuid: LooseStr = None
    ref_call_uuid: LooseStr = None
    start_time: LooseDatetime = None
    end_time: LooseDatetime = None
    customer_number: LooseStr = None
    agent_number: LooseStr = None
    knowlarity_number: LooseStr = None
    solution_type: LooseStr = None
    call_direction: LooseStr = None
    call_status: LooseStr = None
    agent_status: LooseStr = None
    customer_status: LooseStr = None
    destination: LooseStr = None
    duration: LooseInt = None
    disposition: LooseStr = None
    action: LooseStr = None
    agent_device: LooseStr = None
    campaign_id: LooseId = None
    recording_url: LooseStr = None
    business_call_type: LooseStr = None

    @property
    def inbound(self) -> bool:
        return (self.call_direction or "").strip().lower().startswith("in")


class CallLogMeta(KModel):
    """`meta` of a call-log page: `next` is an opaque cursor ("" or null at the end)."""

    total_count: LooseInt = None
    limit: LooseInt = None
    offset: LooseInt = None
    next: LooseStr = None
    previous: LooseStr = None


class CallLogPage(KModel):
    meta: CallLogMeta = Field(default_factory=CallLogMeta)
    objects: list[CallLogRecord] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _no_objects(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("objects") is None:
            return {**data, "objects": []}
        return data

    @property
    def next_cursor(self) -> str | None:
        """The server's `next` cursor: a hint that more rows exist, never sent back."""
        return self.meta.next or None


def _add_months(value: datetime, months: int) -> datetime:
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


class CallLogQuery(BaseModel):
    """Every documented call-log filter. Times are sent as `YYYY-MM-DD HH:MM:SS` (IST)."""

    model_config = ConfigDict(extra="forbid")

    start_time__gt: StrictDatetime | None = None
    start_time__lt: StrictDatetime | None = None
    limit: int | None = Field(default=None, ge=1, le=MAX_CALL_LOG_LIMIT)
    offset: int | None = Field(default=None, ge=0)
    get_total: bool | None = None
    campaign_id: list[str] | None = None
    solution_type: list[SolutionType] | None = None
    action: str | None = None
    agent_number: str | None = None
    agent_device: str | None = None
    agent_status: str | None = None
    customer_status: str | None = None
    disposition: str | None = None
    duration__gt: int | None = Field(default=None, ge=0)
    duration__lt: int | None = Field(default=None, ge=0)
    call_status: str | None = None
    customer__contains: str | None = None
    next: str | None = None  # not documented as accepted; the console pages with `offset`

    @field_validator("campaign_id", "solution_type", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if value is None or isinstance(value, list):
            return value if value is None else [str(v) for v in value]
        if isinstance(value, (tuple, set, frozenset)):
            return [str(v) for v in value]
        return [str(value)]

    @model_validator(mode="after")
    def _ranges(self) -> CallLogQuery:
        gt, lt = self.start_time__gt, self.start_time__lt
        if gt and lt:
            if lt <= gt:
                raise ValueError("start_time__lt must be after start_time__gt")
            if lt > _add_months(gt, 3):
                raise ValueError(
                    "the start-time range is longer than 3 months, Knowlarity's limit: split it"
                )
        if self.duration__gt is not None and self.duration__lt is not None:
            if self.duration__lt <= self.duration__gt:
                raise ValueError("duration__lt must be greater than duration__gt")
        return self

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            body[name] = format_api_datetime(value) if isinstance(value, datetime) else value
        return body

    @property
    def page_limit(self) -> int:
        """Rows per page: `limit`, or the documented default of 20 when it is not sent."""
        return self.limit or DEFAULT_CALL_LOG_LIMIT

    def after(self, page: CallLogPage) -> CallLogQuery | None:
        """The same query for the page after `page` (got with this query), or None at the end."""
        received = len(page.objects)
        if received == 0 or received < self.page_limit:
            return None
        following = (self.offset or 0) + received
        total = page.meta.total_count
        if total is not None and following >= total:
            return None
        return self.model_copy(update={"offset": following, "next": None})
