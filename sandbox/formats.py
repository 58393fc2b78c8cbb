"""The wire formats Knowlarity's servers really use, oddities included.

The documentation's samples show dates in half a dozen shapes, some with a space lost
("2016-06-1716:18:21+00:00", "Fri, 1 Jul 201616:45:37 +0530", "Tue, 11 Apr2017 14:19:37
+0530"). The sandbox sends exactly those shapes, field by field, so a client that works
against the sandbox has already met what the real servers send. Every formatter here
names the sample it reproduces.

Numbers are normalised to E.164; Indian numbers may arrive as 10 digits, with a 0 or
91 in front, or with +91.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")
UTC = UTC

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def ist(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, IST)


# ---- the documented date shapes --------------------------------------------------------


def iso_utc(ts: float) -> str:
    """"2016-10-21 07:25:05+00:00" (numbers, tasks' call_missed_dt, plans' created_date)."""
    return utc(ts).strftime("%Y-%m-%d %H:%M:%S+00:00")


def iso_utc_lost_space(ts: float) -> str:
    """"2016-06-1716:18:21+00:00" (tasks' created_dt, plans' expiry_time)."""
    return utc(ts).strftime("%Y-%m-%d%H:%M:%S+00:00")


def rfc_month_year_joined(ts: float) -> str:
    """"Thu, 30 Mar2017 18:24:24 +0530" (phonebook timestamp, campaign times)."""
    d = ist(ts)
    return f"{_DAYS[d.weekday()]}, {d.day:02d} {_MONTHS[d.month - 1]}{d.year} {d:%H:%M:%S} +0530"


def rfc_year_time_joined(ts: float) -> str:
    """"Fri, 1 Jul 201616:45:37 +0530" (sound date: day not padded, year and time joined)."""
    d = ist(ts)
    return f"{_DAYS[d.weekday()]}, {d.day} {_MONTHS[d.month - 1]} {d.year}{d:%H:%M:%S} +0530"


def local_plain(ts: float) -> str:
    """"2023-11-07 13:26:19": call-log times, India local time, no offset."""
    return ist(ts).strftime("%Y-%m-%d %H:%M:%S")


def cdr_start(ts: float) -> str:
    """"2015-11-20 11:50:18+05:30" (CDR start_time)."""
    return ist(ts).strftime("%Y-%m-%d %H:%M:%S+05:30")


def cdr_end(ts: float) -> str:
    """"2015-11-2011:51:37.868542+05:30" (CDR end_time: space lost, microseconds)."""
    return ist(ts).strftime("%Y-%m-%d%H:%M:%S.%f+05:30")


def iso_t(ts: float) -> str:
    """"2023-08-16T13:38:06" (detailed call log, notifications' date_updated), local time."""
    return ist(ts).strftime("%Y-%m-%dT%H:%M:%S")


def micro_local(ts: float) -> str:
    """"2023-08-16 13:38:31.922176" (detailed call log events)."""
    return ist(ts).strftime("%Y-%m-%d %H:%M:%S.%f")


def cursor_time(ts: float) -> str:
    """"2023-11-30 15:20:00.365000" (inside the call log's `next` cursor), UTC."""
    return utc(ts).strftime("%Y-%m-%d %H:%M:%S.%f")


# ---- parsing what clients send ----------------------------------------------------------

_DT_RE = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?\s*$"
)


def parse_datetime(text: str, *, default_tz: timezone = IST) -> datetime:
    """Parse "YYYY-MM-DD[ HH:MM[:SS[.ffffff]]][offset]", also with the space lost.

    The documentation's own request bodies send "2017-04-1118:26" and
    "2017-04-2500:00:00", so the lost-space form is accepted. A time without an offset
    is taken in `default_tz` (India time, as the samples are). Raises ValueError.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a date string, got {type(text).__name__}")
    m = _DT_RE.match(text)
    if not m:
        raise ValueError(f"not a date: {text!r} (expected YYYY-MM-DD HH:MM:SS)")
    year, month, day, hour, minute, second, frac, off = m.groups()
    tz = default_tz
    if off:
        if off == "Z":
            tz = UTC
        else:
            sign = -1 if off[0] == "-" else 1
            digits = off[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    micro = int((frac or "0").ljust(6, "0"))
    return datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro, tzinfo=tz
    )


def months_before(when: datetime, months: int) -> datetime:
    """The same wall-clock time `months` calendar months earlier (day clipped to month end)."""
    year, month = divmod(when.year * 12 + (when.month - 1) - months, 12)
    month += 1
    days_in = [31, 29 if (year % 4 == 0 and (year % 100 or year % 400 == 0)) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return when.replace(year=year, month=month, day=min(when.day, days_in[month - 1]))


# ---- numbers ------------------------------------------------------------------------------

_NON_DIGITS = re.compile(r"[\s\-().]")


def normalize_number(raw: object) -> str | None:
    """E.164 form of a phone number, or None if it is not one.

    "9876543210", "09876543210", "919876543210" and "+919876543210" all give
    "+919876543210"; other countries must come with their "+" prefix.
    """
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        return None
    text = _NON_DIGITS.sub("", str(raw))
    if text.startswith("+"):
        digits = text[1:]
        return f"+{digits}" if digits.isdigit() and 8 <= len(digits) <= 15 else None
    if not text.isdigit():
        return None
    if len(text) == 10:
        return f"+91{text}"
    if len(text) == 11 and text.startswith("0"):
        return f"+91{text[1:]}"
    if len(text) == 12 and text.startswith("91"):
        return f"+{text}"
    return None


def national(number: str) -> str:
    """The number without its country code, as the docs print it ("9876543210")."""
    if number.startswith("+91") and len(number) == 13:
        return number[3:]
    return number.lstrip("+")


# ---- ids -----------------------------------------------------------------------------------


def object_id(ts: float, serial: int) -> str:
    """A 24-hex id shaped like the call log's (a MongoDB ObjectId: 4 bytes of time first)."""
    tail = hashlib.blake2b(serial.to_bytes(8, "big"), digest_size=8).hexdigest()
    return f"{int(ts) & 0xFFFFFFFF:08x}{tail}"
