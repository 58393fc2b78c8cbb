"""Bot URLs: checked before dialling, printed only redacted, TLS trust for wss://."""

from __future__ import annotations

import re
import ssl
from collections.abc import Collection
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kcommon.redact import REDACTED
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


_SECRET_PARAM = re.compile(r"(token|key|secret|password|passwd|auth|sig|signature|credential)", re.I)
_WORDISH = re.compile(r"[a-z][a-z-]*\Z")
_VERSION = re.compile(r"v\d{1,2}\Z")


def looks_like_token(segment: str) -> bool:
    """A path segment that may be a secret rather than a route name: anything but a plain
    lowercase word (/voice, /bots, /acme-support) shorter than 16 characters."""
    return not ((_WORDISH.match(segment) and len(segment) < 16) or _VERSION.match(segment))


def redact_url(url: str, secrets: Collection[str] = ()) -> str:
    """The URL as safe to print, masking tokens only: query values of secret-named
    parameters (token, key, ...), path segments that are a known secret (`--token`) or look
    like one (digits, capitals, long runs), and user-info. Ordinary paths stay readable:
    /bots/acme/voice is shown as it is, /voice/Zx81kq is /voice/***."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    known = {s for s in secrets if s}
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        secret = bool(_SECRET_PARAM.search(key)) or value in known or (bool(value) and key not in (
            "sample_rate", "sampling_rate") and looks_like_token(value) and len(value) >= 16)
        query.append((key, REDACTED if secret else value))
    segments = parts.path.split("/")
    path = "/".join(REDACTED if seg and (seg in known or (i > 1 and looks_like_token(seg))) else seg
                    for i, seg in enumerate(segments))
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, path, urlencode(query, safe="*"), REDACTED if parts.fragment else ""))


def insecure_ssl_context() -> ssl.SSLContext:
    """Accept any certificate (a bot with a self-signed cert on a dev box)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
