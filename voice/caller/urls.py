"""Bot URLs: checked before dialling, printed only redacted (the one redactor,
`kcommon.redact.redact_url`), TLS trust for wss://."""

from __future__ import annotations

import ssl
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kcommon.redact import looks_like_token, redact_url
from voice.caller.errors import CallerError

__all__ = ["build_url", "insecure_ssl_context", "looks_like_token", "redact_url"]


def build_url(url: str, *, sample_rate: int | None = None) -> str:
    """Check a bot URL (ws:// or wss://) and add `sample_rate=` to its query if asked."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise CallerError(f"the bot URL must start with ws:// or wss://, got {redact_url(url)!r}")
    if not parts.hostname:
        raise CallerError(f"the bot URL has no host: {redact_url(url)!r}")
    if sample_rate is None:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "sample_rate"]
    query.append(("sample_rate", str(sample_rate)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def insecure_ssl_context() -> ssl.SSLContext:
    """Accept any certificate (a bot with a self-signed cert on a dev box)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
