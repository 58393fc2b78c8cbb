"""Typed errors of the Knowlarity client, each with the server's own words and no key.

Knowlarity reports failures three ways, all mapped here: an HTTP status with `{"message"}`
or `{"error": "..."}`; a 400 with `{"error": {"knowlarity_number": "..."}}`; and a *200*
whose body is `{"error": {"message": "Call Failed! Number ... in Do Not Call registry."}}`
(make call, OTP call). Callers catch one `KnowlarityError` or a precise subclass; `str()`
is one line fit for a status bar: the server's message, then the status and the endpoint.
Every text is passed through the client's redactor before an error is built.
"""

from __future__ import annotations

from typing import Any

from kcommon.redact import redact, redact_data

__all__ = [
    "ApiConnectionError",
    "ApiTimeout",
    "AuthError",
    "BadRequest",
    "KnowlarityError",
    "NotFound",
    "RateLimited",
    "ResponseFormatError",
    "ServerError",
    "error_message",
]

_MAX_MESSAGE = 400


class KnowlarityError(Exception):
    """Base of every client error.

    `message` is the server's own message when it sent one; `status` the HTTP status (None
    when no answer came); `method`/`path` the endpoint (paths never contain keys; query
    strings are left out); `body` the decoded error body for programs that want details.
    `retryable` says whether trying again later can help.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
    ) -> None:
        message = redact(" ".join(str(message).split()))
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = redact(path) if path else path
        self.body = redact_data(body)  # a server may echo the key back; programs print bodies

    def __str__(self) -> str:
        where = []
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        if self.method and self.path:
            where.append(f"{self.method} {self.path}")
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class AuthError(KnowlarityError):
    """401/403: the SR API key or the application access key was refused."""


class BadRequest(KnowlarityError):
    """400 (or a 200 carrying `{"error": ...}`): Knowlarity refused the request's content."""


class NotFound(KnowlarityError):
    """404: no such resource (an agent, task or campaign id) or a wrong base URL/channel."""


class RateLimited(KnowlarityError):
    """429: too many requests; retried for reads."""

    retryable = True


class ServerError(KnowlarityError):
    """5xx: Knowlarity failed; reads are retried, actions are not."""

    retryable = True


class ApiTimeout(KnowlarityError):
    """No answer within the timeout. For an action the outcome is unknown: check the call
    log before trying again."""

    retryable = True


class ApiConnectionError(KnowlarityError):
    """Knowlarity could not be reached (DNS, refused, reset, TLS)."""

    retryable = True


class ResponseFormatError(KnowlarityError):
    """The answer could not be read (not even pseudo-JSON, or not the documented shape)."""


def error_message(body: Any) -> str:
    """The human message inside any of Knowlarity's error body shapes."""
    if body is None:
        return ""
    if isinstance(body, str):
        return body.strip()
    if isinstance(body, list):
        return "; ".join(filter(None, (error_message(item) for item in body)))
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "errors", "msg", "reason"):
            if key in body and body[key] not in (None, "", [], {}):
                value = body[key]
                if isinstance(value, dict):
                    if "message" in value:
                        return error_message(value["message"])
                    return "; ".join(f"{k}: {error_message(v)}" for k, v in value.items())
                return error_message(value)
        return ""
    return str(body)
