"""The one redactor: keys and tokens never reach a log, a screen or an error text.

Two kinds of matching, both applied by `redact()` and by every log record (see `logsafe`):

- **Registered secrets** (the SR API key, the x-api-key, provider keys, bot and monitor
  tokens), registered once where they are loaded. A secret is found whatever the case
  (`upper()`-ed by a server's error text), URL-encoded (`%2F`, `+`), in base64 at any of the
  three byte alignments (inside an `Authorization: Basic` header, say), and, for long keys,
  as a partial echo: any run of `PARTIAL_MIN` or more of its characters (a truncated key in
  a vendor's "invalid key abcd1234..." message).
- **Shapes**, found with no registration: the key segment of the live-stream path
  (`/update-stream/KEY/...`), URL user-info (`ftp://admin:KEY@host`), `Authorization:` and
  `x-api-key:` header values, and `token=` / `key=` / `secret=` / `password=` parameters
  (also as `;token=` path parameters), the fragment of a ws:// URL.

`redact_url()` is the URL form: a URL made safe to print for a route that may carry a token
in a path segment, a path parameter, the query or the fragment.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Collection, Iterable
from typing import Protocol
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

__all__ = [
    "PARTIAL_MIN", "REDACTED", "Redactor", "looks_like_token", "redact", "redact_data", "redact_url", "register_secret",
    "secret_variants",
]

REDACTED = "***"
PARTIAL_MIN = 8  # a run this long of a long key's characters is that key, partly echoed
_PARTIAL_FROM = 16  # keys shorter than this are matched whole only (8 of 10 chars is most of it)
_BASE64_FROM = 6


class _HasSecret(Protocol):
    def get_secret_value(self) -> str: ...


Secret = str | _HasSecret | None

_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(/update-stream/)[^/?#\s\"'<>]+"), r"\g<1>" + REDACTED),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@?#\"'<>]+@", re.I), r"\g<1>" + REDACTED + "@"),
    (re.compile(r"(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)[^\s\"',;]+", re.I),
     r"\g<1>" + REDACTED),
    (re.compile(r"(\bx-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+", re.I), r"\g<1>" + REDACTED),
    (re.compile(r"([?&;](?:[a-z_-]*token|[a-z_-]*key|secret|password|k)=)[^\s&#;?\"'<>]+", re.I),
     r"\g<1>" + REDACTED),
    (re.compile(r"(\bwss?://[^\s#\"'<>]*#)[^\s\"'<>]+", re.I), r"\g<1>" + REDACTED),
)


def _value(secret: Secret) -> str:
    if secret is None:
        return ""
    getter = getattr(secret, "get_secret_value", None)
    return str(getter()) if callable(getter) else str(secret)


def _base64_variants(secret: str) -> set[str]:
    """The characters of `secret`'s base64 that do not depend on its neighbours, for each of
    the three byte offsets it can start at inside a longer encoded text."""
    raw = secret.encode("utf-8")
    out: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        start = -(-offset * 8 // 6)  # ceil: the first character made only of the secret's bits
        end = (offset + len(raw)) * 8 // 6  # floor: the last such character
        chunk = encoded[start:end]
        if len(chunk) >= _BASE64_FROM:
            out.add(chunk)
            out.add(chunk.replace("+", "-").replace("/", "_"))  # the URL-safe alphabet
    return out


def secret_variants(secret: str) -> tuple[set[str], set[str]]:
    """(case-insensitive forms, case-sensitive forms) under which `secret` is hidden."""
    plain = {secret, quote(secret, safe=""), quote_plus(secret)}
    return {v for v in plain if v}, _base64_variants(secret)


class Redactor:
    """Replaces known secrets, in every form `secret_variants` names, and secret shapes."""

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        self._secrets: tuple[str, ...] = ()
        # (whole-secret pattern, run -> (secret, offset), run pattern): swapped in one
        # assignment, so a thread logging while a secret is registered sees one consistent set.
        self._state: tuple[re.Pattern[str] | None, dict[str, tuple[str, int]], re.Pattern[str] | None] = (
            None, {}, None)
        for secret in secrets:
            self.add(secret)

    def add(self, secret: Secret) -> None:
        value = _value(secret).strip()
        if value and value not in self._secrets:
            self._secrets = (*self._secrets, value)
            self._compile()

    def _compile(self) -> None:
        insensitive: set[str] = set()
        sensitive: set[str] = set()
        partial: dict[str, tuple[str, int]] = {}
        for secret in self._secrets:
            loose, exact = secret_variants(secret)
            insensitive |= loose
            sensitive |= exact
            if len(secret) >= _PARTIAL_FROM:
                low = secret.lower()
                for i in range(len(low) - PARTIAL_MIN + 1):
                    partial.setdefault(low[i : i + PARTIAL_MIN], (low, i))
        # Longest first, so a key that contains another is replaced whole.
        alternatives = [f"(?i:{re.escape(v)})" for v in sorted(insensitive, key=len, reverse=True)]
        alternatives += [re.escape(v) for v in sorted(sensitive, key=len, reverse=True)]
        pattern = re.compile("|".join(alternatives)) if alternatives else None
        runs = re.compile("|".join(re.escape(g) for g in partial), re.I) if partial else None
        self._state = (pattern, partial, runs)

    @staticmethod
    def _hide_partials(text: str, partial: dict[str, tuple[str, int]], runs: re.Pattern[str] | None) -> str:
        if runs is None:
            return text
        out: list[str] = []
        pos = 0
        low = text.lower()
        while True:
            match = runs.search(text, pos)
            if match is None:
                break
            secret, at = partial[match.group(0).lower()]
            end = match.end()
            while end < len(text) and at + (end - match.start()) < len(secret) and \
                    low[end] == secret[at + end - match.start()]:
                end += 1  # the echo goes on past the first run: hide all of it
            out.append(text[pos : match.start()])
            out.append(REDACTED)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def __call__(self, text: object) -> str:
        out = str(text)
        pattern, partial, runs = self._state
        if pattern is not None:
            out = pattern.sub(REDACTED, out)
        out = self._hide_partials(out, partial, runs)
        for pattern, replacement in _SHAPES:
            out = pattern.sub(replacement, out)
        return out

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


_lock = threading.Lock()
_GLOBAL = Redactor()


MIN_REGISTERED = 6  # a one-letter test token must not turn every "t" of every log line into ***


def register_secret(secret: Secret) -> None:
    """Add a secret to the process-wide set that every log record and `redact()` hides.

    Values shorter than MIN_REGISTERED are not matched in free text (they would match
    ordinary words); URLs still hide them by position (`redact_url`)."""
    value = _value(secret).strip()
    if len(value) >= MIN_REGISTERED:
        with _lock:
            _GLOBAL.add(value)


def redact(text: object) -> str:
    """Hide every registered secret and every secret shape in `text`."""
    return _GLOBAL(text)


def redact_data(value: object) -> object:
    """`value` (decoded JSON: dicts, lists, strings, numbers) with every string redacted,
    keys included; for error bodies that programs may print or log whole."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_data(v) for v in value)
    return value


_PUBLIC_PARAMS = frozenset({"sample_rate", "sampling_rate"})
_PARAM_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z", re.I)
_SECRET_PARAM = re.compile(r"(token|key|secret|password|passwd|auth|sig|signature|credential)", re.I)
_WORDISH = re.compile(r"[a-z][a-z-]*\Z")
_VERSION = re.compile(r"v\d{1,2}\Z")


def looks_like_token(segment: str) -> bool:
    """A path segment that may be a secret rather than a route name: anything but a plain
    lowercase word (/voice, /bots, /acme-support) shorter than 16 characters, or v1..v99."""
    return not ((_WORDISH.match(segment) and len(segment) < 16) or _VERSION.match(segment))


def redact_url(url: str, secrets: Collection[str] = (), *, public_segments: Collection[str] | None = None,
               public_params: Collection[str] = _PUBLIC_PARAMS) -> str:
    """`url` (or a bare request path) as safe to print, masking tokens only.

    Always hidden: user-info, the fragment, `;params` of a path segment, values of
    secret-named query parameters (token, key, auth, ...), a bare `?WORD` parameter that
    looks like a token, and anything equal to one of `secrets` or to a registered secret.
    Path segments: with `public_segments` None, a segment after the first is hidden when it
    looks like a token (`looks_like_token`), so /bots/acme/voice stays readable and
    /voice/Zx81kq is /voice/***; with `public_segments` given (a server logging what a
    stranger asked for), only those names are shown and every other segment is hidden.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    known = {s for s in secrets if s}

    def secret(value: str) -> bool:
        return value in known or _GLOBAL(value) != value

    query: list[str] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if not value:
            query.append(REDACTED if looks_like_token(key) or secret(key) else key)
            continue
        hidden = (key not in public_params and (bool(_SECRET_PARAM.search(key)) or secret(value)
                                                or (looks_like_token(value) and len(value) >= 16)))
        hidden = hidden or (key in public_params and not (value.isascii() and len(value) <= 12))
        shown_key = REDACTED if secret(key) or not _PARAM_NAME.match(key) else key
        query.append(f"{shown_key}={REDACTED if hidden else quote(value, safe='')}")
    segments = parts.path.split("/")
    shown: list[str] = []
    for i, seg in enumerate(segments):
        name, semi, _ = seg.partition(";")
        if not seg:
            shown.append(seg)
            continue
        if public_segments is not None:
            visible = name in public_segments
        else:
            visible = not secret(name) and not (i > 1 and looks_like_token(name))
        shown.append((name if visible else REDACTED) + (";" + REDACTED if semi else ""))
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if port:
        netloc = f"{netloc}:{port}"
    fragment = REDACTED if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, "/".join(shown), "&".join(query), fragment))
