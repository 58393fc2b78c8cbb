"""Cartesia TTS over its SSE endpoint (httpx + httpx-sse), raw pcm_s16le at the call's rate.

POST {base}/tts/sse with `X-API-Key` and `Cartesia-Version`, a JSON body naming the
model, the transcript, the voice (`{"mode": "id", "id": ...}`) and the output format
(`{"container": "raw", "encoding": "pcm_s16le", "sample_rate": R}`). The answer is a
stream of events: `{"type": "chunk", "data": "<base64 pcm>", "done": false}` as audio
is generated, then `{"type": "done"}`; a failure mid-way is `{"type": "error"}`.
Cartesia renders at any of the Stream Node's rates, so nothing is resampled here:
each chunk goes to the call as it arrives (~300 ms to the first, per the guide).

Errors — HTTP statuses, error events, a cut stream, timeouts — become ProviderErrors
naming the status and Cartesia's message, never the key; the session then speaks that
sentence with the offline voice.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
from httpx_sse import SSEError, aconnect_sse
from pydantic import SecretStr

from voice.providers.base import ProviderError

log = logging.getLogger("voice.providers.cartesia")

# A stock voice from Cartesia's library, used when CARTESIA_VOICE_ID is not set.
DEFAULT_VOICE_ID = "a0e99841-438c-4a64-b679-ae501e7d6091"


class CartesiaTTS:
    """`TTSProvider` over Cartesia's /tts/sse."""

    name = "cartesia"

    def __init__(
        self,
        api_key: SecretStr | str,
        *,
        voice_id: str | None = None,
        url: str = "https://api.cartesia.ai",
        model: str = "sonic-english",
        version: str = "2024-06-10",
        language: str = "en",
        timeout_s: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key.strip():
            raise ProviderError("the Cartesia API key is empty")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ProviderError("CARTESIA_URL must be an http:// or https:// URL")
        self._key = SecretStr(key)
        self.voice_id = voice_id or DEFAULT_VOICE_ID
        self.url = url.rstrip("/")
        self.model = model
        self.version = version
        self.language = language
        self.timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"CartesiaTTS(model={self.model!r}, voice_id={self.voice_id!r}, api_key=SecretStr('**********'))"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(timeout=self.timeout, transport=self._transport)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def request_body(self, text: str, sample_rate: int) -> dict[str, Any]:
        return {
            "model_id": self.model,
            "transcript": text,
            "voice": {"mode": "id", "id": self.voice_id},
            "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": sample_rate},
            "language": self.language,
        }

    def _scrub(self, text: str) -> str:
        return text.replace(self._key.get_secret_value(), "***")

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        if not text.strip():
            return
        headers = {
            "X-API-Key": self._key.get_secret_value(),
            "Cartesia-Version": self.version,
            "Accept": "text/event-stream",
        }
        carry = b""
        done = False
        try:
            async with aconnect_sse(
                self._http(), "POST", f"{self.url}/tts/sse", json=self.request_body(text, sample_rate), headers=headers
            ) as source:
                response = source.response
                if response.status_code != 200:
                    body = (await response.aread()).decode("utf-8", "replace")
                    raise ProviderError(
                        f"Cartesia answered HTTP {response.status_code}: {self._scrub(_message(body))[:200]}"
                        + (" (check CARTESIA_API_KEY)" if response.status_code in (401, 403) else "")
                    )
                async for event in source.aiter_sse():
                    if not event.data:
                        continue
                    try:
                        msg = json.loads(event.data)
                    except json.JSONDecodeError:
                        log.warning("[CARTESIA] ignoring a non-JSON event (%d chars)", len(event.data))
                        continue
                    if not isinstance(msg, dict):
                        continue
                    kind = msg.get("type") or event.event
                    if kind == "error" or (isinstance(msg.get("status_code"), int) and msg["status_code"] >= 400):
                        detail = self._scrub(str(msg.get("error") or msg.get("message") or "unknown"))[:200]
                        raise ProviderError(f"Cartesia error: {detail}")
                    if kind == "chunk" and isinstance(msg.get("data"), str):
                        try:
                            pcm = carry + base64.b64decode(msg["data"], validate=True)
                        except (binascii.Error, ValueError):
                            raise ProviderError("Cartesia sent a chunk that is not base64") from None
                        cut = len(pcm) - len(pcm) % 2
                        carry = pcm[cut:]
                        if cut:
                            yield pcm[:cut]
                    if kind == "done" or msg.get("done") is True:
                        done = True
                        break
        except ProviderError:
            raise
        except httpx.TimeoutException:
            raise ProviderError("Cartesia timed out") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"Cartesia request failed: {type(exc).__name__}") from None
        except SSEError:
            raise ProviderError("Cartesia did not answer with an event stream") from None
        if not done:
            raise ProviderError("Cartesia's stream ended before it was done")


def _message(body: str) -> str:
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return body.strip() or "no message"
    if isinstance(value, dict):
        for key in ("error", "message", "detail"):
            if value.get(key):
                return str(value[key])
    return body.strip()
