"""OpenAI chat completions, streamed, with tool calls (the `openai` package).

The base URL is configurable, so any OpenAI-compatible server works: Ollama
(`http://localhost:11434/v1`), vLLM, llama.cpp's server. Those need no key; the
client still wants one, so a placeholder is sent when none is set.

Text deltas are passed on as they arrive (the session cuts sentences and starts TTS
on the first one). Tool calls arrive in pieces — an index, then the id and name,
then the JSON arguments a few characters at a time — and are assembled per index and
emitted once the stream ends, as `ToolCall(name, arguments)`.

Every failure (timeout, refused connection, HTTP status, a broken stream) becomes a
`ProviderError` whose text names the status and the server's own message but never
the key; `max_retries` is 0 because a turn must fail fast to the session's apology,
not hang in retries while the caller listens to silence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
from pydantic import SecretStr

from voice.providers.base import ChatMessage, LLMDelta, ProviderError, TextDelta, ToolCall, ToolSpec

log = logging.getLogger("voice.providers.openai")

# What the client can raise: its own errors, and those of the HTTP library under it
# (httpx for openai 1.x, its fork httpx2 for later releases) when a body is cut.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (openai.OpenAIError, httpx.HTTPError)
try:
    import httpx2  # type: ignore[import-not-found, unused-ignore]  # only some openai releases bring it

    CLIENT_ERRORS += (httpx2.HTTPError,)
except ImportError:  # pragma: no cover - depends on the openai release
    pass

PLACEHOLDER_KEY = "not-needed"


def _secret(value: SecretStr | str | None) -> str:
    if value is None:
        return ""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def scrub(text: str, key: str) -> str:
    """Remove the key (and any `sk-...`-looking token) from a vendor's message."""
    if key and key != PLACEHOLDER_KEY:
        text = text.replace(key, "***")
    return " ".join(w if not (w.startswith("sk-") and len(w) > 12) else "sk-***" for w in text.split(" "))


def describe_openai_error(exc: BaseException, key: str, what: str = "OpenAI") -> ProviderError:
    """One clear ProviderError for any failure of the `openai` client."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(f"{what} timed out")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        return ProviderError(f"cannot reach {what}{detail}")
    if isinstance(exc, openai.APIStatusError):
        message = ""
        body = exc.body
        if isinstance(body, dict):
            err = body.get("error", body)
            message = str(err.get("message", "")) if isinstance(err, dict) else str(err)
        if not message:
            message = exc.message
        hint = " (check OPENAI_API_KEY)" if exc.status_code == 401 else ""
        return ProviderError(f"{what} answered HTTP {exc.status_code}: {scrub(message, key)[:200]}{hint}")
    if isinstance(exc, CLIENT_ERRORS) and not isinstance(exc, openai.OpenAIError):
        return ProviderError(f"{what} stream failed: {type(exc).__name__}")
    if isinstance(exc, openai.OpenAIError):
        return ProviderError(f"{what} failed: {scrub(str(exc), key)[:200]}")
    return ProviderError(f"{what} failed: {type(exc).__name__}")


def make_client(api_key: SecretStr | str | None, base_url: str | None, timeout_s: float) -> tuple[openai.AsyncOpenAI, str]:
    key = _secret(api_key) or PLACEHOLDER_KEY
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderError("OPENAI_BASE_URL must be an http:// or https:// URL")
    client = openai.AsyncOpenAI(
        api_key=key,
        base_url=base_url or None,
        timeout=openai.Timeout(timeout_s, connect=min(5.0, timeout_s)),
        max_retries=0,
    )
    return client, key


def endpoint_label(base_url: str | None) -> str:
    """Where requests go, for descriptions and logs: scheme://host[:port], nothing more."""
    if not base_url:
        return "api.openai.com"
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


class OpenAILLM:
    """`LLMProvider` over OpenAI's (or a compatible server's) chat completions."""

    name = "openai"

    def __init__(
        self,
        api_key: SecretStr | str | None,
        *,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        timeout_s: float = 15.0,
        temperature: float | None = 0.4,
        max_tokens: int | None = 300,
    ) -> None:
        self.client, self._key = make_client(api_key, base_url, timeout_s)
        self.model = model
        self.base_url = base_url
        self.temperature = temperature
        self.max_tokens = max_tokens

    def __repr__(self) -> str:
        return f"OpenAILLM(model={self.model!r}, endpoint={endpoint_label(self.base_url)!r})"

    async def stream(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> AsyncIterator[LLMDelta]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
        }
        if tools:
            params["tools"] = [t.to_openai() for t in tools]
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        calls: dict[int, dict[str, str]] = {}
        try:
            stream = await self.client.chat.completions.create(**params)
            async with stream:
                async for chunk in stream:
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta
                    if delta is None:
                        continue
                    if delta.content:
                        yield TextDelta(delta.content)
                    for tc in delta.tool_calls or []:
                        slot = calls.setdefault(tc.index if tc.index is not None else len(calls), {"name": "", "args": ""})
                        if tc.function is not None:
                            if tc.function.name:
                                slot["name"] += tc.function.name
                            if tc.function.arguments:
                                slot["args"] += tc.function.arguments
        except ProviderError:
            raise
        except CLIENT_ERRORS as exc:
            raise describe_openai_error(exc, self._key) from None
        for index in sorted(calls):
            slot = calls[index]
            if not slot["name"]:
                log.warning("[OPENAI] ignoring a tool call without a name")
                continue
            yield ToolCall(slot["name"], _parse_arguments(slot["name"], slot["args"]))


def _parse_arguments(name: str, raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        log.warning("[OPENAI] tool call %s had unparsable arguments (%d chars); using none", name, len(raw))
        return {}
    return value if isinstance(value, dict) else {}
