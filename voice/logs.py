"""Log lines in the guide's format: `TIMESTAMP [call_id=X] [COMPONENT] message`.

The timestamp comes from the handler's formatter (`kconsole` uses "%(asctime)s
%(message)s"); this adapter adds the call id and the component, padded like the
guide's examples, so a support engineer can grep one call across components.
Components: KNOWLARITY (the Stream Node side), the providers' names (DEEPGRAM, OPENAI,
CARTESIA, ESPEAK, ...), BOT (turns), VAD (barge-in), MONITOR, SERVER.

Nothing secret is ever passed to these loggers: tokens and keys stay in SecretStr and
URLs are logged without their query string (see `redact_path`).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

LOGGER = logging.getLogger("voice")


class CallLog(logging.LoggerAdapter[logging.Logger]):
    """A logger bound to one call and one component."""

    def __init__(self, call_id: str, component: str, logger: logging.Logger = LOGGER) -> None:
        super().__init__(logger, {"call_id": call_id, "component": component})
        self.prefix = f"[call_id={call_id}] [{component.upper():<10}] "

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra.update(self.extra or {})
        kwargs["extra"] = extra
        return self.prefix + str(msg), kwargs

    def child(self, component: str) -> CallLog:
        return CallLog(str((self.extra or {}).get("call_id", "-")), component, self.logger)


def redact_path(path: str) -> str:
    """A request path without its query string and without anything after the route's
    first segment that could be a token (`/voice/SECRET` -> `/voice/***`)."""
    parts = urlsplit(path)
    segs = [s for s in parts.path.split("/") if s]
    shown = "/" + "/".join(segs[:1]) + ("/***" if len(segs) > 1 else "")
    return shown + ("?…" if parts.query else "")
