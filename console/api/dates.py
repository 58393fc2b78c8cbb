"""Dates in every shape Knowlarity's API documents, and the shapes it wants back.

Seen in the documentation's samples:

- ISO with offset: ``2016-10-21 07:25:05+00:00``; ISO ``T`` without one: ``2023-08-16T13:38:06``
- microseconds: ``2015-11-2011:51:37.868542+05:30`` (space between date and time lost)
- the space lost elsewhere too: ``2016-06-1716:18:21+00:00``, ``2017-04-2500:00:00``
- RFC 2822-like: ``Thu, 30 Mar2017 18:24:24 +0530``, ``Fri, 1 Jul 201616:45:37 +0530``
- a bare date in filters: ``2017-04-10``

A timestamp without an offset is taken as India Standard Time: Knowlarity is an Indian
service and its call log speaks local time (``2023-11-07 00:00:00`` in the call-log filter).
Every parsed value is timezone-aware, so values from different endpoints compare correctly.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

__all__ = ["IST", "format_api_date", "format_api_datetime", "format_api_minute", "parse_datetime"]

IST = timezone(timedelta(hours=5, minutes=30), "IST")

_ISO = re.compile(
    r"""^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})
    (?:
        (?:[Tt]|\s+)?(?P<h>\d{2}):(?P<mi>\d{2})
        (?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?
    )?
    \s*(?P<tz>[Zz]|UTC|GMT|IST|[+-]\d{2}:?\d{2})?$""",
    re.X,
)
_RFC = re.compile(
    r"""^(?:[A-Za-z]{3,9},?\s*)?
    (?P<d>\d{1,2})\s*(?P<mon>[A-Za-z]{3,9})\.?\s*(?P<y>\d{4})
    (?:\s*(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?
    \s*(?P<tz>[Zz]|UT|UTC|GMT|IST|[+-]\d{2}:?\d{2})?$""",
    re.X,
)
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}


def _zone(text: str | None, default: tzinfo) -> tzinfo:
    if not text:
        return default
    upper = text.upper()
    if upper in ("Z", "UT", "UTC", "GMT"):
        return UTC
    if upper == "IST":
        return IST
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))
    return timezone(-offset if text[0] == "-" else offset)


def _build(parts: dict[str, str | None], month: int, default: tzinfo) -> datetime:
    fraction = (parts.get("f") or "").ljust(6, "0")[:6]
    return datetime(
        int(parts["y"] or 0),
        month,
        int(parts["d"] or 0),
        int(parts.get("h") or 0),
        int(parts.get("mi") or 0),
        int(parts.get("s") or 0),
        int(fraction or 0),
        tzinfo=_zone(parts.get("tz"), default),
    )


def parse_datetime(value: object, *, default_tz: tzinfo = IST) -> datetime:
    """Parse any documented timestamp shape into an aware datetime; ValueError otherwise.

    Also accepts datetime and date objects (naive ones get `default_tz`) and epoch seconds.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=default_tz)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=default_tz)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (ValueError, OverflowError, OSError):  # outside the platform's time_t, or NaN
            raise ValueError(f"epoch seconds out of range: {value!r:.40}") from None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {type(value).__name__}")
    text = value.strip()
    try:
        if m := _ISO.match(text):
            return _build(m.groupdict(), int(m["mo"]), default_tz)
        if m := _RFC.match(text):
            month = _MONTHS.get(m["mon"][:3].lower())
            if month is None:
                raise ValueError("unknown month")
            return _build(m.groupdict(), month, default_tz)
        if re.fullmatch(r"\d{9,11}(?:\.\d+)?", text):
            return datetime.fromtimestamp(float(text), tz=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise ValueError(f"not a date Knowlarity uses: {text[:40]!r}")


def _local(value: datetime, tz: tzinfo) -> datetime:
    return value.astimezone(tz) if value.tzinfo else value


def format_api_datetime(value: datetime, tz: tzinfo = IST) -> str:
    """`YYYY-MM-DD HH:MM:SS` in local (IST) time: call-log filters, number expiry."""
    return _local(value, tz).strftime("%Y-%m-%d %H:%M:%S")


def format_api_minute(value: datetime, tz: tzinfo = IST) -> str:
    """`YYYY-MM-DD HH:MM`: campaign and order start/end times (`yyyy-MM-dd HH:mm`)."""
    return _local(value, tz).strftime("%Y-%m-%d %H:%M")


def format_api_date(value: date | datetime, tz: tzinfo = IST) -> str:
    """A filter value: dates as `YYYY-MM-DD`, datetimes as `YYYY-MM-DD HH:MM:SS`."""
    if isinstance(value, datetime):
        return format_api_datetime(value, tz)
    return value.isoformat()
