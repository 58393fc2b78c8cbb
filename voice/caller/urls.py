"""Bot URLs: checked before dialling, printed only redacted, TLS trust for wss://."""

from __future__ import annotations

import ssl
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from voice.caller.errors import CallerError


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


def redact_url(url: str) -> str:
    """The URL as safe to print: query values other than sample_rate, and every path
    segment after the endpoint's first (where a bot takes its token: /voice/TOKEN),
    become ***. Short tokens are secrets too, so length is no test."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    query = [(k, v if k == "sample_rate" else "***") for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    segments = parts.path.split("/")
    first = next((i for i, seg in enumerate(segments) if seg), len(segments))
    path = "/".join(seg if i <= first or not seg else "***" for i, seg in enumerate(segments))
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=urlencode(query, safe="*")))


def insecure_ssl_context() -> ssl.SSLContext:
    """Accept any certificate (a bot with a self-signed cert on a dev box)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
