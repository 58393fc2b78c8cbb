"""Reusable field types for payloads as Knowlarity really sends them.

One set of annotated types instead of per-field hacks:

- `Missing`: None, "", "None", "$None", "null" (all seen in the documentation) -> None
- `LooseStr`: any scalar as text (ids arrive as 1 or "1" or "6xx793"), missing -> None
- `LooseInt` / `LooseFloat`: 7, "7", "7.0", missing -> None
- `LooseBool`: true/"True"/"false"/1/0/"yes"/"enable"..., missing -> None
- `LooseDatetime`: every documented date shape (see `dates.py`); an unreadable date becomes
  None rather than failing the whole record (a supervisor still wants the call that carried
  it), and the original text stays in the record's raw data where models keep it
- `CallScheduling`: "[1, 1,1, 1, 1, 0, 0]" or a list -> seven 0/1 ints, Monday first
- `LooseSecret`: a key-like value kept as SecretStr, so it never shows in a repr

`KModel` is the base of every response model: unknown fields are kept (extra="allow"), and
any extra field whose name looks like a credential is left out of repr().
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr

from .dates import parse_datetime
from .lenient_json import LenientJSONError, loads

__all__ = [
    "MISSING_STRINGS",
    "CallScheduling",
    "KModel",
    "LooseBool",
    "LooseDatetime",
    "LooseFloat",
    "LooseId",
    "LooseInt",
    "LooseSecret",
    "LooseStr",
    "StrictDatetime",
    "is_missing",
    "looks_secret",
]

log = logging.getLogger(__name__)

MISSING_STRINGS = frozenset({"", "none", "$none", "null", "nil", "undefined"})
_TRUE = frozenset({"true", "t", "yes", "y", "1", "enable", "enabled", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "disable", "disabled", "off"})
_SECRET_NAME = re.compile(r"(api_?key|secret|password|passwd|token|authori[sz]ation)", re.I)


def is_missing(value: object) -> bool:
    """True for every way Knowlarity writes 'no value'."""
    return value is None or (isinstance(value, str) and value.strip().lower() in MISSING_STRINGS)


@lru_cache(maxsize=4096)
def looks_secret(name: str) -> bool:
    """A field name that probably holds a credential (k_api_key, app_api_key, password...).
    Cached: every live-stream message asks it of the same dozen field names."""
    return bool(_SECRET_NAME.search(name))


def _to_str(value: Any) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value).strip()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    raise ValueError(f"expected text, got {type(value).__name__}")


def _to_int(value: Any) -> int | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("expected a whole number, got a non-finite float")
        return round(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {value[:30]!r}") from None
        if math.isfinite(number):
            return round(number)
    raise ValueError(f"expected a whole number, got {type(value).__name__}")


def _to_float(value: Any) -> float | None:
    if is_missing(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {str(value)[:30]!r}")


def _to_bool(value: Any) -> bool | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"expected true/false, got {str(value)[:30]!r}")


def _to_datetime(value: Any) -> datetime | None:
    if is_missing(value):
        return None
    try:
        return parse_datetime(value)
    except ValueError as exc:
        log.debug("unreadable date left empty: %s", exc)
        return None


def _to_strict_datetime(value: Any) -> Any:
    if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return parse_datetime(value)
    return value


def _to_schedule(value: Any) -> list[int] | None:
    if is_missing(value):
        return None
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[01]{7}", text):
            items = list(text)
        else:
            try:
                items = loads(text if text.startswith("[") else f"[{text}]")
            except (LenientJSONError, ValueError):
                raise ValueError(f"call_scheduling is not a list of 7 days: {text[:40]!r}") from None
    if not isinstance(items, (list, tuple)):
        raise ValueError("call_scheduling must be a list of 7 days (Monday first)")
    try:
        days = [_to_bool(item) for item in items]
    except ValueError:
        days = []
    if len(days) != 7 or any(day is None for day in days):
        raise ValueError("call_scheduling needs exactly 7 days of 1/0 (Monday first)")
    return [1 if day else 0 for day in days]


def _to_secret(value: Any) -> SecretStr | None:
    text = _to_str(value) if not isinstance(value, (dict, list)) else str(value)
    return SecretStr(text) if text else None


LooseStr = Annotated[str | None, BeforeValidator(_to_str)]
LooseId = LooseStr
LooseInt = Annotated[int | None, BeforeValidator(_to_int)]
LooseFloat = Annotated[float | None, BeforeValidator(_to_float)]
LooseBool = Annotated[bool | None, BeforeValidator(_to_bool)]
LooseDatetime = Annotated[datetime | None, BeforeValidator(_to_datetime)]
StrictDatetime = Annotated[datetime, BeforeValidator(_to_strict_datetime)]
CallScheduling = Annotated[list[int] | None, BeforeValidator(_to_schedule)]
LooseSecret = Annotated[SecretStr | None, BeforeValidator(_to_secret)]


class KModel(BaseModel):
    """Base of every Knowlarity payload model: tolerant, and keeps what it does not know."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, arbitrary_types_allowed=True)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name is not None and looks_secret(name) and not isinstance(value, SecretStr):
                yield name, SecretStr(str(value)) if value else value
            else:
                yield name, value
