"""Fixed lines rendered ahead of time: the greeting, the apology, transfer and goodbye lines.

The Stream Node drops a call that hears nothing within a few seconds, and the guide's
reference renders the greeting through TTS on every connect (~300 ms+ before the first
byte). Here each fixed line is rendered once through TTS and cached per (text, sample
rate), shared by every call of the server: the greeting's first playAudio leaves
within a millisecond or two of the metadata.

`prerender` runs at server start for the default rate. A call at another rate gets the
line resampled from a cached rate at once (soxr, a few ms for a few seconds of audio)
and that result is cached too; nothing waits for TTS on the call's critical path unless
the line was never rendered at all (then the caller hears it streamed instead).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing

from voice.audio import resample
from voice.providers.base import ProviderError, TTSProvider

log = logging.getLogger("voice.prompts")


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    buf = bytearray()
    if hasattr(stream, "aclose"):
        async with aclosing(stream) as s:  # type: ignore[type-var]
            async for pcm in s:
                buf += pcm
    else:
        async for pcm in stream:
            buf += pcm
    return bytes(buf[: len(buf) - len(buf) % 2])


class PromptCache:
    """Rendered fixed lines keyed by (text, rate); a small LRU shared across calls."""

    def __init__(
        self, tts: TTSProvider, fallback: TTSProvider | None = None, *, max_entries: int = 64, timeout_s: float = 30.0
    ) -> None:
        self.tts = tts
        self.fallback = fallback
        self.max_entries = max_entries
        self.timeout_s = timeout_s
        self._cache: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    def get(self, text: str, rate: int) -> bytes | None:
        """Cached audio for `text` at `rate`, resampling from another rate if needed; never waits."""
        key = (text, rate)
        pcm = self._cache.get(key)
        if pcm is not None:
            self._cache.move_to_end(key)
            return pcm
        for (t, r), other in list(self._cache.items()):
            if t == text:
                pcm = resample(other, r, rate)
                self._put(key, pcm)
                return pcm
        return None

    async def render(self, text: str, rate: int) -> bytes:
        """Render (or fetch) `text` at `rate`; falls back to the offline voice on failure."""
        cached = self.get(text, rate)
        if cached is not None:
            return cached
        key = (text, rate)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            last: Exception | None = None
            for tts in (self.tts, self.fallback):
                if tts is None:
                    continue
                try:
                    pcm = await asyncio.wait_for(_collect(tts.synthesize(text, sample_rate=rate)), self.timeout_s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a provider failed: try the next one
                    last = exc
                    log.warning("[PROMPTS] rendering %r with %s failed: %s", text[:40], getattr(tts, "name", "tts"), exc)
                    continue
                if pcm:
                    self._put(key, pcm)
                    return pcm
                last = ProviderError(f"{getattr(tts, 'name', 'tts')} produced no audio")
            raise ProviderError(f"could not render {text[:40]!r}: {last}")

    async def prerender(self, texts: Sequence[str], rate: int) -> list[str]:
        """Render every line at `rate`; returns the lines that failed (logged, not raised)."""
        failed = []
        for text in dict.fromkeys(t for t in texts if t.strip()):
            try:
                await self.render(text, rate)
            except ProviderError:
                failed.append(text)
        return failed

    def _put(self, key: tuple[str, int], pcm: bytes) -> None:
        self._cache[key] = pcm
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)

    def __len__(self) -> int:
        return len(self._cache)
