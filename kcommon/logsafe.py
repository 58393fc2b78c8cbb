"""Every log record, from any library's logger, formatted as data, escaped and redacted.

Why a record factory: a filter on a logger only sees records logged on that exact logger,
not those propagated from its children (`httpcore.http11`, `websockets.client`, ...), and a
handler filter only covers handlers we attached. `logging.setLogRecordFactory` makes every
record of the process — httpx, httpcore, websockets, aiohttp, ours, and whatever handler
(a file, stderr, pytest's capture) formats it — a `SafeLogRecord`, whose:

- `getMessage()` applies `msg % args` and, if that fails, shows the message and its
  arguments instead of raising (a bad format never hides a line, "--- Logging error ---"
  never appears); the result has its secrets redacted (`kcommon.redact`), its control
  characters escaped (one record is one line: CR/LF/ESC/NUL from a caller cannot forge a
  line or drive the terminal reading the log) and its length capped;
- exception and stack texts are rendered once, redacted and escaped except for their line
  breaks, and stored where every `logging.Formatter` looks for them (`exc_text`).

Caller-supplied text must still never be *part of* a format string: pass it as an argument
(`log.info("call %s", call_id)`), as `voice.logs.CallLog` does with its call-id prefix.
"""

from __future__ import annotations

import logging
import reprlib
import threading
import traceback
from typing import Any

from kcommon.redact import redact
from kcommon.text import escape_controls

__all__ = ["MAX_MESSAGE_CHARS", "SafeLogRecord", "clean_message", "format_message", "install", "render_exception"]

MAX_MESSAGE_CHARS = 16 * 1024  # a log line longer than this is a flood, not information
_repr = reprlib.Repr()
_repr.maxstring = 200
_repr.maxother = 200


def clean_message(text: str, *, keep_newlines: bool = False) -> str:
    """Cap, redact and escape one text bound for a log."""
    if len(text) > MAX_MESSAGE_CHARS:
        text = f"{text[:MAX_MESSAGE_CHARS]}… ({len(text) - MAX_MESSAGE_CHARS} more characters)"
    return escape_controls(redact(text), keep_newlines=keep_newlines)


def format_message(msg: object, args: Any) -> str:
    """`msg % args` as logging does it, but never raising: a bad format shows its parts."""
    try:
        text = str(msg)
    except Exception:  # noqa: BLE001 - an object whose __str__ fails still gets a line
        text = object.__repr__(msg)
    if not args:
        return text
    try:
        return text % args
    except Exception:  # noqa: BLE001 - a bad format shows its parts rather than vanishing
        return f"{text} [unformatted arguments: {_repr.repr(args)}]"


def render_exception(exc_info: Any) -> str:
    """A traceback as logging prints it, redacted; the frames keep their line breaks, but
    an exception's *message* (which may quote a caller) is escaped onto one line."""
    out: list[str] = []
    seen: set[int] = set()

    def walk(te: traceback.TracebackException) -> None:
        seen.add(id(te))
        if te.__cause__ is not None and id(te.__cause__) not in seen:
            walk(te.__cause__)
            out.append("\nThe above exception was the direct cause of the following exception:\n\n")
        elif te.__context__ is not None and not te.__suppress_context__ and id(te.__context__) not in seen:
            walk(te.__context__)
            out.append("\nDuring handling of the above exception, another exception occurred:\n\n")
        if te.stack:
            out.append("Traceback (most recent call last):\n")
            out.extend(te.stack.format())
        out.append(escape_controls("".join(te.format_exception_only()).rstrip("\n")) + "\n")

    try:
        walk(traceback.TracebackException(*exc_info, compact=True))
    except Exception:  # noqa: BLE001 - a traceback that cannot be rendered is still reported
        out = [f"{exc_info[0].__name__} (traceback not renderable)"]
    return clean_message("".join(out).rstrip("\n"), keep_newlines=True)


class SafeLogRecord(logging.LogRecord):
    """A LogRecord whose message and exception text are safe to write anywhere."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.exc_info and self.exc_info[0] is not None:
            self.exc_text = render_exception(self.exc_info)
        if self.stack_info:
            self.stack_info = clean_message(self.stack_info, keep_newlines=True)

    def getMessage(self) -> str:
        return clean_message(format_message(self.msg, self.args))


_lock = threading.Lock()
_installed: list[Any] = []


def _adopt(record: logging.LogRecord) -> logging.LogRecord:
    """Give a record made by another factory (a library's own) our behaviour."""
    if isinstance(record, SafeLogRecord):
        return record
    if type(record) is logging.LogRecord:
        record.__class__ = SafeLogRecord
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = render_exception(record.exc_info)
    return record


def install() -> None:
    """Make every log record of this process a SafeLogRecord (idempotent, thread-safe).

    A factory installed before us is kept: its records are adopted, not replaced."""
    with _lock:
        current = logging.getLogRecordFactory()
        if current is SafeLogRecord or (_installed and current is _installed[0]):
            _installed[:] = [current]
            return
        if current is logging.LogRecord:
            factory: Any = SafeLogRecord
        else:
            previous = current

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return _adopt(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed[:] = [factory]
