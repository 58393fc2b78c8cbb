"""Tolerant JSON: read the pseudo-JSON bodies Knowlarity's documentation shows.

Why this exists: the documented sample responses are often not JSON, and integrators report
the same shapes from real servers (hand-built bodies, proxies that log-and-replay). Seen in
the documentation, each handled here:

- bare keys: ``{city: "Andhra Pradesh", id:3}``
- bare values: ``Number:phone_number``, ``"id": x``, ``"ivr_refnum": 10000XXXXX``
- a missing comma between members: ``"result": "..."\\n  "status_code":1``
- trailing and doubled commas: ``},]``, ``"call_recording":null,\\n,   "call_type":null``
- a string left unterminated at the end of its line: ``"message": "...iswrong.\\n   }``
- unescaped quotes inside a string value: ``"app_data": "{"username":"admin"}",``
- elisions: ``....`` standing for more members or items
- Python literals: ``True``, ``False``, ``None``; single-quoted strings

`loads` always tries the standard `json.loads` first, so a valid body is never reinterpreted;
this parser runs only when that fails, and raises `LenientJSONError` (a `ValueError` naming
line and column, never quoting the body) when even it cannot make sense of the text.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

__all__ = ["MAX_LENIENT_CHARS", "LenientJSONError", "aloads", "loads", "parse_lenient"]

_MAX_DEPTH = 200
_DELIMS = frozenset("{}[]:,\"'")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_VALUE_END = re.compile(r"[ \t\r]*(?:[,}\]]|\n|\Z)")
_KEY_END = re.compile(r"[ \t\r\n]*:")
_REST_AFTER_VALUE = re.compile(r"[ \t\r]*[,}\]]*[ \t\r]*\Z")
_REST_AFTER_KEY = re.compile(r"[ \t\r]*:")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS: dict[str, Any] = {
    "true": True, "True": True, "false": False, "False": False,
    "null": None, "None": None, "undefined": None,
}


class LenientJSONError(ValueError):
    """The text is not even pseudo-JSON; the message names the place, not the content."""

    def __init__(self, reason: str, text: str, pos: int) -> None:
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"{reason} at line {line}, column {column}")
        self.reason = reason
        self.line = line
        self.column = column


def loads(text: str | bytes) -> Any:
    """Parse `text` as JSON, falling back to the tolerant parser for pseudo-JSON."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return parse_lenient(text)
    except RecursionError:  # json's C decoder gives up past Python's recursion limit
        raise LenientJSONError("nested too deeply", text, 0) from None


MAX_LENIENT_CHARS = 256 * 1024  # pseudo-JSON bodies in the documentation are a few KiB


async def aloads(text: str | bytes, *, max_lenient: int = MAX_LENIENT_CHARS) -> Any:
    """`loads` for code on an event loop: the strict C parser runs in place (milliseconds,
    even for megabytes), the tolerant pure-Python one in a worker thread and only for texts
    up to `max_lenient` characters, so no body can stall the loop for seconds."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except RecursionError:
        raise LenientJSONError("nested too deeply", text, 0) from None
    except ValueError:
        if len(text) > max_lenient:
            raise LenientJSONError(f"not JSON, and too long ({len(text):,} characters) to read leniently",
                                   text, 0) from None
    return await asyncio.to_thread(parse_lenient, text)


def parse_lenient(text: str) -> Any:
    """Parse pseudo-JSON (see the module docstring); raise LenientJSONError if hopeless."""
    return _Parser(text).document()


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text.lstrip("\ufeff")
        self.i = 0
        self.n = len(self.s)
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------
    def fail(self, reason: str, pos: int | None = None) -> LenientJSONError:
        return LenientJSONError(reason, self.s, self.i if pos is None else pos)

    def skip_ws(self) -> None:
        s, n = self.s, self.n
        while self.i < n and s[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def bare_token(self) -> str:
        start = self.i
        s, n = self.s, self.n
        while self.i < n and not s[self.i].isspace() and s[self.i] not in _DELIMS:
            self.i += 1
        return s[start : self.i]

    def skip_separators(self) -> None:
        """Skip whitespace, stray commas and `...` elisions between members or items."""
        while True:
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
                continue
            if c == ".":
                start = self.i
                token = self.bare_token()
                if len(token) >= 2 and set(token) == {"."}:
                    continue
                self.i = start
            return

    # -- grammar -----------------------------------------------------------------------
    def document(self) -> Any:
        self.skip_ws()
        if self.i >= self.n:
            raise self.fail("empty body")
        value = self.value()
        self.skip_separators()
        if self.i < self.n:
            raise self.fail("unexpected text after the document")
        return value

    def value(self) -> Any:
        self.skip_ws()
        c = self.peek()
        if c == "":  # first: "" is `in` every string, so the quote test below would match it
            raise self.fail("unexpected end of body")
        if c == "{":
            return self.container(self.obj)
        if c == "[":
            return self.container(self.arr)
        if c in "\"'":
            return self.string(as_key=False)
        start = self.i
        token = self.bare_token()
        if not token:
            raise self.fail(f"unexpected {c!r}", start)
        if token in _LITERALS:
            return _LITERALS[token]
        if _NUMBER.match(token):
            return json.loads(token)
        return token

    def container(self, parse: Any) -> Any:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail("nested too deeply")
        try:
            return parse()
        finally:
            self.depth -= 1

    def obj(self) -> dict[str, Any]:
        opened = self.i
        self.i += 1
        result: dict[str, Any] = {}
        while True:
            self.skip_separators()
            c = self.peek()
            if c == "}":
                self.i += 1
                return result
            if c == "":
                raise self.fail("object never closed", opened)
            if c in "\"'":
                key = self.string(as_key=True)
            else:
                start = self.i
                key = self.bare_token()
                if not key:
                    raise self.fail(f"expected a key, found {c!r}", start)
            self.skip_ws()
            if self.peek() != ":":
                raise self.fail(f"expected ':' after key {key[:40]!r}")
            self.i += 1
            result[key] = self.value()

    def arr(self) -> list[Any]:
        opened = self.i
        self.i += 1
        result: list[Any] = []
        while True:
            self.skip_separators()
            c = self.peek()
            if c == "]":
                self.i += 1
                return result
            if c == "":
                raise self.fail("array never closed", opened)
            result.append(self.value())

    def string(self, *, as_key: bool) -> str:
        s, n = self.s, self.n
        quote = s[self.i]
        opened = self.i
        j = self.i + 1
        out: list[str] = []
        end_ok = _KEY_END if as_key else _VALUE_END
        while j < n:
            c = s[j]
            if c == "\\" and j + 1 < n:
                nxt = s[j + 1]
                if nxt == "u" and _HEX4.fullmatch(s, j + 2, j + 6):
                    code = int(s[j + 2 : j + 6], 16)
                    j += 6
                    if 0xD800 <= code < 0xDC00 and s.startswith("\\u", j) and _HEX4.fullmatch(s, j + 2, j + 6):
                        low = int(s[j + 2 : j + 6], 16)
                        if 0xDC00 <= low < 0xE000:  # a surrogate pair, as json.loads joins it
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            j += 6
                    out.append(chr(code))
                    continue
                out.append(_ESCAPES.get(nxt, "\\" + nxt))
                j += 2
                continue
            if c == quote:
                if end_ok.match(s, j + 1):
                    self.i = j + 1
                    return "".join(out)
                # A quote that cannot end the string: an unescaped quote inside it. The
                # string then ends at the last quote on this line that can end it.
                eol = s.find("\n", j)
                eol = n if eol < 0 else eol
                rest_ok = _REST_AFTER_KEY if as_key else _REST_AFTER_VALUE
                for q in range(eol - 1, j, -1):
                    if s[q] == quote and (
                        rest_ok.match(s, q + 1) if as_key else rest_ok.fullmatch(s, q + 1, eol)
                    ):
                        self.i = q + 1
                        return "".join(out) + s[j:q]
                if as_key:  # keys hold no quotes: end here and let the caller complain
                    self.i = j + 1
                    return "".join(out)
                out.append(c)
                j += 1
                continue
            if c == "\n":
                # Unterminated at the end of its line: JSON strings cannot span lines.
                self.i = j
                return "".join(out).rstrip("\r")
            out.append(c)
            j += 1
        raise self.fail("string never closed", opened)
