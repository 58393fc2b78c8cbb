"""Log lines in the guide's format: `TIMESTAMP [call_id=X] [COMPONENT] message`.

The timestamp comes from the handler's formatter (`kconsole` uses "%(asctime)s
%(message)s"); this adapter adds the call id and the component, padded like the
guide's examples, so a support engineer can grep one call across components.
Components: KNOWLARITY (the Stream Node side), the providers' names (DEEPGRAM, OPENAI,
CARTESIA, ESPEAK, ...), BOT (turns), VAD (barge-in), MONITOR, SERVER.

The call id is chosen by whoever opens the connection, so it is data, never format: the
adapter formats the message with its arguments first and only then prepends the prefix
(call id escaped), so `fmt%400000000s` is shown, not expanded. Every record is also made
safe as a whole (`kcommon.logsafe`, installed on import): arguments such as a caller's
virtual_number are escaped and every secret is redacted, on our loggers and on every
library's. URLs are logged through `kcommon.redact.redact_url`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import MutableMapping
from typing import Any

from kcommon import logsafe
from kcommon.text import escape_controls

LOGGER = logging.getLogger("voice")
logsafe.install()


class CallLog(logging.LoggerAdapter[logging.Logger]):
    """A logger bound to one call and one component."""

    def __init__(self, call_id: str, component: str, logger: logging.Logger = LOGGER) -> None:
        shown = escape_controls(str(call_id))
        super().__init__(logger, {"call_id": shown, "component": component})
        self.call_id = str(call_id)
        self.prefix = f"[call_id={shown}] [{component.upper():<10}] "

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra.update(self.extra or {})
        kwargs["extra"] = extra
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        msg, options = self.process(msg, kwargs)
        # Format first, then prefix, and log with no arguments: nothing the caller chose is
        # ever part of a format string.
        self.logger.log(level, self.prefix + logsafe.format_message(msg, args), **options)  # noqa: G003 - formatted above

    def child(self, component: str) -> CallLog:
        return CallLog(self.call_id, component, self.logger)


_PREFIX = re.compile(r"^\[call_id=(?P<call_id>[^\]]*)\] \[(?P<component>[A-Z0-9_ -]+?)\s*\] ")
_TAG = re.compile(r"^\[(?P<component>[A-Z0-9_]+)\s*\] ")


class JsonLogFormatter(logging.Formatter):
    """`--log-json`: one JSON object per line, for machines.

    Fields: `ts` (ISO 8601, UTC, milliseconds), `level`, `logger`, `call_id` and
    `component` (from a CallLog line; null / the logger's name otherwise) and `message`
    without the prefix. The message is the record's safe text (escaped, redacted), so the
    JSON carries no more than the text log would.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        call_id: str | None = None
        component: str | None = None
        match = _PREFIX.match(message)
        if match is not None:
            call_id, component = match["call_id"], match["component"].strip()
            message = message[match.end():]
        else:
            tag = _TAG.match(message)
            if tag is not None:
                component, message = tag["component"], message[tag.end():]
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
        data: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "call_id": None if call_id in (None, "-") else call_id,
            "component": component or record.name.split(".")[0].upper(),
            "message": message,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)
