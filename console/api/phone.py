"""Phone-number normalisation, so "my calls" can be picked out of the account's stream.

Knowlarity's live stream carries every call of the account, and the same number arrives as
"+919876543210", "919876543210", "09876543210" or "98765 43210" depending on the endpoint and
on what the agent typed in the web panel. Numbers are compared in one canonical form:
E.164 with a leading "+", Indian (+91) unless the number says otherwise.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_COUNTRY_CODE", "normalize_number", "same_number"]

DEFAULT_COUNTRY_CODE = "91"
_SEPARATORS = re.compile(r"[\s\-().\u00a0/]")


def normalize_number(value: object, *, country_code: str = DEFAULT_COUNTRY_CODE) -> str | None:
    """Return the canonical form of a phone number, or None when there is none.

    - "+91 98765-43210", "919876543210", "09876543210", "9876543210" -> "+919876543210"
    - "0091 98765 43210" -> "+919876543210"; "+1 (415) 555-0100" -> "+14155550100"
    - short codes and extensions (fewer than 10 digits) are kept as their digits
    - masked or non-numeric values ("+91XXXXXXXXXX", "Abandoned") are returned trimmed,
      unchanged, so they never match a real number by accident
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text or text.lower() in ("none", "$none", "null"):
        return None
    compact = _SEPARATORS.sub("", text)
    if compact.startswith("00") and compact[2:].isdigit():
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        return compact if compact[1:].isdigit() and len(compact) > 1 else text
    if not compact.isdigit():
        return text
    if len(compact) == 10:
        return f"+{country_code}{compact}"
    if len(compact) == 11 and compact.startswith("0"):
        return f"+{country_code}{compact[1:]}"
    if len(compact) == 10 + len(country_code) and compact.startswith(country_code):
        return "+" + compact
    if len(compact) > 10:
        return "+" + compact
    return compact


def same_number(a: object, b: object, *, country_code: str = DEFAULT_COUNTRY_CODE) -> bool:
    """True when both are real numbers with the same canonical form."""
    na = normalize_number(a, country_code=country_code)
    nb = normalize_number(b, country_code=country_code)
    return bool(na) and na == nb and any(ch.isdigit() for ch in na or "") and (na or "").lstrip("+").isdigit()
