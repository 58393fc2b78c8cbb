"""The call log: records, a time index, the documented filters and the `next` cursor.

Records are kept sorted by (start time, id); a query bisects to its time window and
walks it newest first, so a search over thousands of records touches only the window.

The `next` cursor has the shape of the documented sample,
"forward##<id>##<UTC timestamp>__<hash>": the id and time of the last record returned,
and a hash binding the cursor to the query's filters. Sent back in the body as `next`,
it yields the records strictly older than that one, so paging never repeats or skips a
record even while new calls are being logged.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox import formats as fmt

MAX_LIMIT = 200
DEFAULT_LIMIT = 20
MSG_RANGE = "Date range is limited to 3 months only."

SOLUTION_TYPES = ("IBD", "OBD", "C2C", "IBD_CC", "sequential", "predictive")

# filters that match one field exactly (a string or a list of accepted values)
_EXACT_FILTERS = ("action", "agent_device", "agent_status", "customer_status", "disposition", "call_status")


class QueryError(ValueError):
    """A call-log query the server refuses (HTTP 400 with this message)."""


@dataclass(slots=True)
class CallRecord:
    """One finished call, as the call log and the detailed call log describe it."""

    oid: str
    ts: float  # start, epoch seconds
    end_ts: float
    uuid: str
    customer_number: str
    agent_number: str
    knowlarity_number: str
    solution_type: str
    call_direction: str  # Inbound | Outbound
    call_status: str  # Connected | Missed | Abandoned | Failed
    agent_status: str
    customer_status: str
    destination: str
    duration: int
    disposition: str
    action: str
    agent_device: str
    campaign_id: str
    business_call_type: str  # the CDR's value: Phone, Agent Missed, ...
    has_recording: bool
    pickup_ts: float | None = None
    ref_call_uuid: str = ""
    channel: str = "PSTN"

    def to_json(self, recording_url: Callable[[str], str]) -> dict[str, Any]:
        return {
            "id": self.oid,
            "uuid": self.uuid,
            "ref_call_uuid": self.ref_call_uuid,
            "start_time": fmt.local_plain(self.ts),
            "end_time": fmt.local_plain(self.end_ts),
            "customer_number": self.customer_number,
            "agent_number": self.agent_number,
            "knowlarity_number": self.knowlarity_number,
            "solution_type": self.solution_type,
            "call_direction": self.call_direction,
            "call_status": self.call_status,
            "agent_status": self.agent_status,
            "customer_status": self.customer_status,
            "destination": self.destination,
            "duration": self.duration,
            "disposition": self.disposition,
            "action": self.action,
            "agent_device": self.agent_device,
            "campaign_id": self.campaign_id,
            "recording_url": recording_url(self.uuid) if self.has_recording else "",
            "business_call_type": self.business_call_type,
        }

    def detailed(self, serial: int) -> dict[str, Any]:
        """The detailed call log's {"message": {...}} body for this call."""
        outgoing = self.call_direction == "Outbound"
        caller = self.knowlarity_number if outgoing else self.customer_number
        called = self.customer_number if outgoing else self.knowlarity_number
        answered = self.pickup_ts is not None
        pickup = self.pickup_ts or self.end_ts
        cause_text = "ANSWERED" if answered else ("NO_ANSWER" if self.call_status == "Missed" else "ORIGINATOR_CANCEL")
        hangup_cause = 900 if answered else (480 if self.call_status == "Missed" else 487)
        events: dict[str, Any] = {
            "CALLERID_SYS": self.customer_number,
            "execCtr": 0,
            "direction": "_outgoing" if outgoing else "_incoming",
            "SESSION_KNUMBER": self.knowlarity_number,
            "hungup_LegA": True,
            "SESSION_ID_SYS": f"{self.uuid}_0",
            "hangup_time": fmt.micro_local(self.end_ts),
            "IVR_DISP_NUM_SYS": self.knowlarity_number,
            "answered": answered,
            "INCOMING_SYS": not outgoing,
            "REF_NUM_SYS": str(1000000000 + serial),
            "start_time": fmt.micro_local(self.ts),
            "pickup_time": fmt.micro_local(pickup) if answered else "None",
            "display_number": self.knowlarity_number,
            "INCALL_ANSWERED_SYS": answered,
            "hangup_cause": hangup_cause,
            "New_Hangup_Cause": cause_text,
            "caller": caller,
            "called": called,
            "unique_id": self.uuid,
            "SITE_LOCATION_SYS": "SANDBOX_LOOPBACK",
            "agent_number": self.agent_number,
            "call_status": self.call_status,
            "exception_dict_sys": [],
            "goto_system": {},
        }
        return {
            "message": {
                "id": serial,
                "unique_id": self.uuid,
                "caller": caller,
                "called": called,
                "hangup_cause": hangup_cause,
                "fs": "sandboxfs01",
                "priority": 7,
                "ivr_refnum": 1000000000 + serial,
                "fs_chan_info": f"sofia/{fmt.national(caller)}/{fmt.national(called)}/",
                "call_type": "outgoing" if outgoing else "incoming",
                "did_number": None if outgoing else self.knowlarity_number,
                "ref_uuid": self.ref_call_uuid or None,
                "start_time": fmt.iso_t(self.ts),
                "end_time": fmt.iso_t(self.end_ts),
                "pickup_time": fmt.iso_t(pickup) if answered else None,
                "hangup_time": fmt.iso_t(self.end_ts),
                "posting_time": fmt.iso_t(self.end_ts + 1),
                "order_time": fmt.iso_t(self.ts - 1),
                "caller_in_fs": None,
                "attempt_number": 1,
                "events": events,
            }
        }


def _key(record: CallRecord) -> tuple[float, str]:
    return (record.ts, record.oid)


def _as_list(value: Any, name: str) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        text = str(value).strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise QueryError(f"{name} must be a list or a string") from None
            return _as_list(parsed, name)
        return [p.strip() for p in text.split(",") if p.strip()]
    raise QueryError(f"{name} must be a list or a string")


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise QueryError(f"{name} must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise QueryError(f"{name} must be a whole number")


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)[-10:]


def _field_in(record: CallRecord, *, name: str, values: set[str]) -> bool:
    """An exact-match filter: the record's `name` field is one of `values` (case-insensitive)."""
    return str(getattr(record, name)).lower() in values


class CallLog:
    """All finished calls of the account, indexed by start time."""

    def __init__(self, secret: bytes) -> None:
        self._records: list[CallRecord] = []
        self._keys: list[tuple[float, str]] = []
        self._by_uuid: dict[str, int] = {}  # uuid -> serial (stable "DB id")
        self._uuid_record: dict[str, CallRecord] = {}
        self._secret = secret

    def __len__(self) -> int:
        return len(self._records)

    def extend_sorted(self, records: list[CallRecord]) -> None:
        """Bulk load (seeding): records in any order, sorted once."""
        for r in records:
            self._register(r)
        self._records.extend(records)
        self._records.sort(key=_key)
        self._keys = [_key(r) for r in self._records]

    def add(self, record: CallRecord) -> None:
        self._register(record)
        k = _key(record)
        i = bisect.bisect_right(self._keys, k)
        self._keys.insert(i, k)
        self._records.insert(i, record)

    def _register(self, record: CallRecord) -> None:
        self._by_uuid[record.uuid] = len(self._by_uuid) + 1
        self._uuid_record[record.uuid] = record

    def get(self, call_uuid: str) -> CallRecord | None:
        return self._uuid_record.get(call_uuid)

    def serial(self, call_uuid: str) -> int:
        return self._by_uuid[call_uuid]

    def records(self) -> list[CallRecord]:
        """Oldest first (a copy)."""
        return list(self._records)

    # ---- searching -------------------------------------------------------------------

    def search(self, body: Mapping[str, Any], recording_url: Callable[[str], str], now: float | None = None) -> dict[str, Any]:
        """Run a call-log query (the POST body) and return the documented response."""
        now = time.time() if now is None else now
        # Unknown keys are ignored, as the real server ignores them.
        limit = _as_int(body.get("limit", DEFAULT_LIMIT), "limit")
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}.")
        offset = _as_int(body.get("offset", 0), "offset")
        if offset < 0:
            raise QueryError("offset must not be negative.")
        get_total = body.get("get_total", False)
        if isinstance(get_total, str):
            if get_total.strip().lower() not in ("true", "false", "1", "0", ""):
                raise QueryError("get_total must be true or false.")
            get_total = get_total.strip().lower() in ("true", "1")
        elif not isinstance(get_total, (bool, int)):
            raise QueryError("get_total must be true or false.")
        lo, hi = self._window(body, now)
        match = self._matcher(body)
        fingerprint = self._fingerprint(body)

        start = bisect.bisect_right(self._keys, (hi, ""))  # records with ts < hi ... see below
        cursor = body.get("next")
        if cursor not in (None, ""):
            ck = self._decode_cursor(cursor, fingerprint)
            start = min(start, bisect.bisect_left(self._keys, ck))
            offset = 0
        stop = bisect.bisect_right(self._keys, (lo, "\uffff"))  # first index with ts > lo

        page: list[CallRecord] = []
        skipped = 0
        more = False
        i = start - 1
        while i >= stop:
            r = self._records[i]
            i -= 1
            if r.ts >= hi or not match(r):
                continue
            if skipped < offset:
                skipped += 1
                continue
            if len(page) == limit:
                more = True
                break
            page.append(r)
        total = None
        if get_total:
            total = sum(1 for r in self._records[stop:bisect.bisect_left(self._keys, (hi, ""))] if match(r))
        next_cursor = ""
        if more and page:
            last = page[-1]
            next_cursor = self._encode_cursor(last, fingerprint)
        return {
            "meta": {"total_count": total, "next": next_cursor, "limit": limit, "previous": ""},
            "objects": [r.to_json(recording_url) for r in page],
        }

    def _window(self, body: Mapping[str, Any], now: float) -> tuple[float, float]:
        def parse(name: str) -> float | None:
            raw = body.get(name)
            if raw in (None, ""):
                return None
            try:
                return fmt.parse_datetime(str(raw)).timestamp()
            except ValueError:
                raise QueryError(f"{name} must be a date: YYYY-MM-DD HH:MM:SS.") from None

        lt = parse("start_time__lt")
        gt = parse("start_time__gt")
        hi = lt if lt is not None else now + 60
        hi_dt = fmt.ist(hi)
        earliest = fmt.months_before(hi_dt, 3).timestamp()
        lo = gt if gt is not None else earliest
        if lo >= hi:
            raise QueryError("start_time__gt must be before start_time__lt.")
        if lo < earliest - 1e-6:
            raise QueryError(MSG_RANGE)
        return lo, hi

    def _matcher(self, body: Mapping[str, Any]) -> Callable[[CallRecord], bool]:
        tests: list[Callable[[CallRecord], bool]] = []
        if body.get("campaign_id") not in (None, "", []):
            ids = set(_as_list(body["campaign_id"], "campaign_id"))
            tests.append(lambda r: r.campaign_id in ids)
        if body.get("solution_type") not in (None, "", []):
            kinds = _as_list(body["solution_type"], "solution_type")
            bad = [k for k in kinds if k != "all" and k not in SOLUTION_TYPES]
            if bad:
                raise QueryError(f"Unknown solution_type {bad[0]!r}: use all, {', '.join(SOLUTION_TYPES)}.")
            if "all" not in kinds:
                wanted = set(kinds)
                tests.append(lambda r: r.solution_type in wanted)
        if body.get("agent_number") not in (None, "", []):
            agents = {_digits(a) for a in _as_list(body["agent_number"], "agent_number")}
            tests.append(lambda r: bool(r.agent_number) and _digits(r.agent_number) in agents)
        for name in _EXACT_FILTERS:
            if body.get(name) not in (None, "", []):
                values = {v.lower() for v in _as_list(body[name], name)}
                tests.append(functools.partial(_field_in, name=name, values=values))
        if body.get("duration__gt") not in (None, ""):
            gt = _as_int(body["duration__gt"], "duration__gt")
            tests.append(lambda r: r.duration > gt)
        if body.get("duration__lt") not in (None, ""):
            lt = _as_int(body["duration__lt"], "duration__lt")
            tests.append(lambda r: r.duration < lt)
        if body.get("customer__contains") not in (None, ""):
            needle = str(body["customer__contains"]).strip()
            tests.append(lambda r: needle in r.customer_number)
        return lambda r: all(t(r) for t in tests)

    # ---- the cursor --------------------------------------------------------------------

    @staticmethod
    def _fingerprint(body: Mapping[str, Any]) -> str:
        skip = {"limit", "offset", "next", "get_total"}
        return json.dumps({k: body[k] for k in sorted(body) if k not in skip}, sort_keys=True, default=str)

    def _sign(self, oid: str, stamp: str, fingerprint: str) -> str:
        msg = f"{oid}|{stamp}|{fingerprint}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def _encode_cursor(self, record: CallRecord, fingerprint: str) -> str:
        stamp = fmt.cursor_time(record.ts)
        return f"forward##{record.oid}##{stamp}__{self._sign(record.oid, stamp, fingerprint)}"

    def _decode_cursor(self, cursor: Any, fingerprint: str) -> tuple[float, str]:
        m = re.fullmatch(r"forward##([0-9a-f]{24})##(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6})__([0-9a-f]{64})", str(cursor))
        if not m:
            raise QueryError("Invalid next cursor.")
        oid, stamp, sig = m.groups()
        if not hmac.compare_digest(sig, self._sign(oid, stamp, fingerprint)):
            raise QueryError("Invalid next cursor: it belongs to a query with other filters.")
        ts = fmt.parse_datetime(stamp + "+00:00").timestamp()
        # find the record's exact key (the stamp keeps microseconds, the key the float)
        i = bisect.bisect_left(self._keys, (ts - 1e-3, ""))
        while i < len(self._keys) and self._keys[i][0] <= ts + 1e-3:
            if self._keys[i][1] == oid:
                return self._keys[i]
            i += 1
        return (ts, oid)
