"""Providers that answer instantly, so a figure measures the bot and nothing else.

They implement voice.providers.base's Protocols, exactly like a vendor adapter:

- `InstantSTT`: segments the caller's audio by level (20 ms frames over -40 dBFS are speech)
  and emits a final transcript the moment `end_silence_ms` of silence follows an utterance
  of at least `min_speech_ms`. It stamps each final with time.monotonic() (CLOCK_MONOTONIC is
  system-wide on Linux, so a caller in another process can subtract its own stamps).
- `DeafSTT`: hears everything, transcribes nothing: the VAD-only barge-in path, used for the
  false-trigger corpus (a real STT does not transcribe a door slam; a level-based fake would).
- `InstantLLM`: one short sentence per request, no delay.
- `InstantTTS`: a vowel-like tone `ms_per_char` long per character, in 20 ms pieces, no delay.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.providers.base import ChatMessage, TextDelta, ToolSpec, Transcript


def _level_dbfs(frame: bytes) -> float:
    x = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
    energy = float(np.dot(x, x)) / len(x) if len(x) else 0.0
    return -math.inf if energy < 1 else 10 * math.log10(energy / 1073741824.0)


class _InstantStream:
    def __init__(self, owner: InstantSTT, sample_rate: int, call_id: str) -> None:
        self.owner = owner
        self.call_id = call_id
        self.frame = sample_rate * 2 * 20 // 1000
        self.buf = bytearray()
        self.queue: asyncio.Queue[Transcript | None] = asyncio.Queue()
        self.speech_ms = 0.0
        self.silence_ms = 0.0
        self.closed = False

    async def send(self, pcm: bytes) -> None:
        self.send_nowait(pcm)

    def send_nowait(self, pcm: bytes) -> None:
        if self.closed or self.owner.deaf:
            return
        self.buf += pcm
        while len(self.buf) >= self.frame:
            frame = bytes(self.buf[: self.frame])
            del self.buf[: self.frame]
            if _level_dbfs(frame) > self.owner.speech_dbfs:
                self.speech_ms += 20
                self.silence_ms = 0
                continue
            self.silence_ms += 20
            if self.speech_ms >= self.owner.min_speech_ms and self.silence_ms >= self.owner.end_silence_ms:
                self.owner.finals.append((self.call_id, time.monotonic()))
                self.queue.put_nowait(Transcript(self.owner.text, final=True, speech_final=True))
                self.speech_ms = 0
            elif self.silence_ms >= self.owner.end_silence_ms:
                self.speech_ms = 0

    async def results(self) -> AsyncIterator[Transcript]:
        while (item := await self.queue.get()) is not None:
            yield item

    async def close(self) -> None:
        self.closed = True
        self.queue.put_nowait(None)


@dataclass
class InstantSTT:
    name: str = "instant-stt"
    text: str = "what are your opening hours"
    speech_dbfs: float = -40.0
    min_speech_ms: float = 200.0
    end_silence_ms: float = 200.0
    deaf: bool = False
    finals: list[tuple[str, float]] = field(default_factory=list)

    async def open(self, *, sample_rate: int, call_id: str) -> _InstantStream:
        return _InstantStream(self, sample_rate, call_id)


class InstantLLM:
    name = "instant-llm"

    def __init__(self, reply: str = "We are open nine to five.") -> None:
        self.reply = reply

    async def stream(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> AsyncIterator[Any]:
        yield TextDelta(self.reply)


class InstantTTS:
    name = "instant-tts"

    def __init__(self, ms_per_char: float = 12.0) -> None:
        self.ms_per_char = ms_per_char
        self._cache: dict[tuple[int, int], bytes] = {}

    def _pcm(self, n_ms: int, rate: int) -> bytes:
        key = (n_ms, rate)
        pcm = self._cache.get(key)
        if pcm is None:
            t = np.arange(int(rate * n_ms / 1000)) / rate
            x = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 440 * t)
            pcm = (x * 32767).astype(np.int16).tobytes()
            if len(self._cache) < 256:
                self._cache[key] = pcm
        return pcm

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        pcm = self._pcm(max(100, int(len(text) * self.ms_per_char)), sample_rate)
        step = sample_rate * 2 * 20 // 1000
        for off in range(0, len(pcm), step):
            yield pcm[off : off + step]


@dataclass
class InstantProviders:
    """Shaped like voice.providers.factory.ProviderSet."""

    stt: InstantSTT = field(default_factory=InstantSTT)
    llm: InstantLLM = field(default_factory=InstantLLM)
    tts: InstantTTS = field(default_factory=InstantTTS)
    fallback_tts: Any = None
    description: str = "instant STT (level), instant LLM, instant TTS"
