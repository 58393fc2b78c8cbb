"""Lists of phone numbers typed or read from a file, checked before anything is sent.

A phonebook upload or a campaign's extra numbers can hold hundreds of numbers pasted from a
spreadsheet. Knowlarity counts what it could not use (`invalid_count`, `duplicates_count`)
but never says which lines those were; so the console reads the list itself first: every
line (or `;`/`,`-separated item) is normalised to +91... form, bad ones are reported with
their line number and the reason, duplicates are dropped, and only the clean list is sent.

A CSV file's first column that holds a phone number is used (so "name,phone" and
"phone,name" both work); a header row is recognised and skipped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from console.api.phone import normalize_number

__all__ = ["MAX_FILE_BYTES", "BadLine", "PhoneList", "parse_phone_text", "read_phone_file"]

MAX_FILE_BYTES = 5 * 1024 * 1024
_HEADER_WORDS = re.compile(r"(phone|number|mobile|msisdn|contact|name|customer)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        return f"line {self.line}: “{shown}” {self.reason}"


@dataclass(slots=True)
class PhoneList:
    """The clean numbers (normalised, in order, once each) and what was left out."""

    numbers: list[str] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    duplicates: int = 0

    def summary(self) -> str:
        parts = [f"{len(self.numbers)} number{'s' * (len(self.numbers) != 1)}"]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate{'s' * (self.duplicates != 1)} dropped")
        if self.bad:
            parts.append(f"{len(self.bad)} bad line{'s' * (len(self.bad) != 1)} left out")
        return ", ".join(parts)


def check_number(text: str) -> tuple[str | None, str]:
    """(normalised number, "") or (None, why it is not a phone number)."""
    raw = text.strip().strip('"').strip("'")
    if not raw:
        return None, "is empty"
    if re.search(r"[A-Za-z]", raw):
        return None, "has letters in it"
    number = normalize_number(raw)
    digits = (number or "").lstrip("+")
    if not number or not digits.isdigit():
        return None, "is not a phone number"
    if len(digits) < 8:
        return None, "is too short for a phone number"
    if len(digits) > 15:
        return None, "is too long for a phone number (15 digits at most)"
    return number, ""


def _add(result: PhoneList, seen: set[str], line: int, text: str) -> None:
    number, reason = check_number(text)
    if number is None:
        result.bad.append(BadLine(line, text.strip(), reason))
    elif number in seen:
        result.duplicates += 1
    else:
        seen.add(number)
        result.numbers.append(number)


def parse_phone_text(text: str) -> PhoneList:
    """Numbers typed or pasted: one per line, or separated by `;` or `,`."""
    result = PhoneList()
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines() or [text], 1):
        for item in re.split(r"[;,]", line):
            if item.strip():
                _add(result, seen, lineno, item)
    return result


def _phone_column(rows: list[list[str]]) -> int:
    """The first column whose cells mostly look like phone numbers."""
    width = max((len(r) for r in rows), default=0)
    for col in range(width):
        cells = [r[col] for r in rows[:50] if len(r) > col and r[col].strip()]
        good = sum(1 for c in cells if check_number(c)[0])
        if cells and good * 2 >= len(cells):
            return col
    return 0


def parse_phone_csv(text: str) -> PhoneList:
    """A CSV (or one number per line) file: its phone column, header skipped."""
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        return PhoneList()
    col = _phone_column(rows)
    result = PhoneList()
    seen: set[str] = set()
    for lineno, row in enumerate(rows, 1):
        cell = row[col] if len(row) > col else ""
        if not cell.strip() and not any(c.strip() for c in row):
            continue  # blank line
        if lineno == 1 and _HEADER_WORDS.search(cell) and check_number(cell)[0] is None:
            continue  # a header row
        _add(result, seen, lineno, cell)
    return result


def read_phone_file(path: str | Path) -> PhoneList:
    """Read a CSV or text file of numbers. Raises ValueError with a one-line reason."""
    p = Path(path).expanduser()
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ValueError(f"cannot read {p.name or path}: {exc.strerror or exc}") from None
    if not p.is_file():
        raise ValueError(f"{p.name or path} is not a file")
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{p.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {p.name}: {exc.strerror or exc}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    if "\x00" in text:
        raise ValueError(f"{p.name} is not a text or CSV file")
    return parse_phone_csv(text)
