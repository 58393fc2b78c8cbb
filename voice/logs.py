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

import logging
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
        msg, kwargs = self.process(msg, kwargs)
        # Format first, then prefix, and log with no arguments: nothing the caller chose is
        # ever part of a format string.
        self.logger.log(level, self.prefix + logsafe.format_message(msg, args), **kwargs)

    def child(self, component: str) -> CallLog:
        return CallLog(self.call_id, component, self.logger)
