"""Keep keys out of every text a user or a log file can see.

The SR API key travels in a header for REST, but in the *path* of the live stream URL
(`/update-stream/{SR_API_KEY}/konnect`), and httpx logs every request URL at INFO level. So
redaction is done in three places: error texts built by this package, our own log lines,
and a filter on the `httpx` logger that rewrites its request lines before any handler sees
them. Secrets are registered once (by the client and the stream when they are built) and
are also matched by shape: any path segment after `/update-stream/` is hidden even when its
value was never registered.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from pydantic import SecretStr

__all__ = ["REDACTED", "Redactor", "install_log_redaction", "redact", "register_secret"]

REDACTED = "***"
_STREAM_KEY = re.compile(r"(/update-stream/)[^/?#\s\"']+")
_lock = threading.Lock()
_registered: set[str] = set()


def _value(secret: str | SecretStr | None) -> str:
    if secret is None:
        return ""
    return secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret)


class Redactor:
    """Replaces known secrets (and stream-URL keys by shape) in a text."""

    def __init__(self, secrets: Iterable[str | SecretStr | None] = ()) -> None:
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | SecretStr | None) -> None:
        value = _value(secret).strip()
        if value and value not in self._secrets:
            # Longest first, so a key that contains another is replaced whole.
            self._secrets = tuple(sorted((*self._secrets, value), key=len, reverse=True))

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in self._secrets:
            if secret in out:
                out = out.replace(secret, REDACTED)
        return _STREAM_KEY.sub(r"\g<1>" + REDACTED, out)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


def register_secret(secret: str | SecretStr | None) -> None:
    """Add a secret to the process-wide set every log filter and `redact()` hides."""
    value = _value(secret).strip()
    if value:
        with _lock:
            _registered.add(value)


def redact(text: object) -> str:
    """Hide every registered secret and any stream-URL key in `text`."""
    with _lock:
        secrets = tuple(sorted(_registered, key=len, reverse=True))
    return Redactor(secrets)(text)


class _RedactingFilter(logging.Filter):
    """Rewrites a record's message with secrets hidden (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is the emitter's bug, not ours to hide
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = _RedactingFilter()
_LOGGERS = ("httpx", "httpx_sse", "console.api")


def install_log_redaction() -> None:
    """Attach the redacting filter to the loggers that can see request URLs (idempotent).

    Logger filters only apply to records logged on that exact logger, which is what we
    need: httpx logs its request lines on the `httpx` logger itself.
    """
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
