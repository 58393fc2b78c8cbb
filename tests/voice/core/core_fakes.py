"""Fake providers and synthetic audio for the bot-core tests.

The fakes implement the real Protocols of voice.providers.base, so the session cannot
tell them from vendors:

- FakeSTT: segments the caller's audio by energy (speech > -40 dBFS) and emits an
  interim after 120 ms of speech and a final (the next scripted utterance) after
  `end_silence_ms` of silence following >= `min_speech_ms` of speech; or is driven by
  the test (`stream.emit(...)`). It can fail to open, or die mid-call.
- FakeLLM: replies from a script per turn: strings (text deltas), ToolCall, floats
  (a delay in seconds), exceptions (raised at that point); records every request.
- FakeTTS: a tone at the requested rate, `ms_per_char` long, in 20 ms pieces; a first
  byte delay, or a failure, on request. Each instance has its own frequency so a test
  can tell the fallback voice from the primary one in the audio it receives.

The module is named core_fakes (not fakes) so it never collides with another test
directory's helpers under pytest's default import mode.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.audio import rms_dbfs
from voice.providers.base import ChatMessage, ProviderError, TextDelta, ToolCall, ToolSpec, Transcript

# ---- audio --------------------------------------------------------------------------------


def voiced(rate: int, ms: float, *, f0: float = 140.0, amp: float = 0.3, seed: int = 0) -> bytes:
    """Vowel-like audio: harmonics of a slightly wavering pitch under three formants."""
    n = int(rate * ms / 1000)
    t = np.arange(n) / rate
    f = f0 * (1 + 0.03 * np.sin(2 * np.pi * 4 * t + seed))
    phase = 2 * np.pi * np.cumsum(f) / rate
    x = np.zeros(n)
    for k in range(1, 40):
        fk = k * f0
        if fk > min(rate / 2 * 0.9, 3800):
            break
        gain = sum(math.exp(-(((fk - F) / bw) ** 2)) for F, bw in ((700, 150), (1200, 200), (2600, 300))) + 0.05
        x += gain * np.sin(k * phase) / math.sqrt(k)
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t + seed)
    peak = float(np.max(np.abs(x))) or 1.0
    return (x / peak * amp * 32767).astype(np.int16).tobytes()


def noise_burst(rate: int, ms: float, *, amp: float = 0.5, seed: int = 1) -> bytes:
    """A cough-like burst: loud broadband noise decaying fast."""
    n = int(rate * ms / 1000)
    rng = np.random.default_rng(seed)
    env = np.exp(-np.arange(n) / max(1, n / 3))
    x = rng.standard_normal(n) * env * amp * 32767 / 3
    return np.clip(x, -32768, 32767).astype(np.int16).tobytes()


def click(rate: int, ms: float = 5.0) -> bytes:
    n = max(2, int(rate * ms / 1000))
    x = np.zeros(n)
    x[0], x[1] = 30000, -30000
    return x.astype(np.int16).tobytes()


def silence(rate: int, ms: float) -> bytes:
    return bytes(2 * int(rate * ms / 1000))


def tone(rate: int, ms: float, freq: float, amp: float = 0.2, phase0: float = 0.0) -> bytes:
    n = int(rate * ms / 1000)
    t = np.arange(n) / rate
    return (np.sin(2 * np.pi * freq * t + phase0) * amp * 32767).astype(np.int16).tobytes()


def dominant_freq(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype=np.int16).astype(np.float64)
    if len(x) < 64:
        return 0.0
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


# ---- STT ----------------------------------------------------------------------------------


class FakeSTTStream:
    def __init__(self, provider: FakeSTT, sample_rate: int, call_id: str) -> None:
        self.provider = provider
        self.sample_rate = sample_rate
        self.call_id = call_id
        self._q: asyncio.Queue[Transcript | BaseException | None] = asyncio.Queue()
        self.closed = False
        self.received = 0
        self._speech_ms = 0.0
        self._silence_ms = 0.0
        self._interim_sent = False
        self._buf = bytearray()
        self._frame = sample_rate * 2 * 20 // 1000

    async def send(self, pcm: bytes) -> None:
        if self.closed:
            raise ProviderError("stream closed")
        self.received += len(pcm)
        if self.provider.die_after_bytes is not None and self.received >= self.provider.die_after_bytes:
            self.provider.die_after_bytes = None
            self._q.put_nowait(ProviderError("socket closed 1011"))
            return
        if self.provider.manual:
            return
        self._buf += pcm
        while len(self._buf) >= self._frame:
            frame = bytes(self._buf[: self._frame])
            del self._buf[: self._frame]
            self._segment(frame)

    def _segment(self, frame: bytes) -> None:
        p = self.provider
        if rms_dbfs(frame) > p.speech_dbfs:
            self._speech_ms += 20
            self._silence_ms = 0
            if p.interims and self._speech_ms >= 120 and not self._interim_sent:
                self._interim_sent = True
                self.emit(Transcript("uh", final=False))
            return
        self._silence_ms += 20
        if self._speech_ms >= p.min_speech_ms and self._silence_ms >= p.end_silence_ms:
            text = p.utterances.pop(0) if p.utterances else p.default_text
            self.emit(Transcript(text, final=True, speech_final=True))
            self._speech_ms = 0
            self._interim_sent = False
        elif self._silence_ms >= p.end_silence_ms:
            self._speech_ms = 0
            self._interim_sent = False

    def emit(self, tr: Transcript) -> None:
        self.provider.emitted.append(tr)
        self._q.put_nowait(tr)

    async def results(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def close(self) -> None:
        self.closed = True
        self._q.put_nowait(None)


class FakeSTT:
    name = "fakestt"

    def __init__(
        self, utterances: Sequence[str] = (), *, manual: bool = False, default_text: str = "hello there",
        speech_dbfs: float = -40.0, min_speech_ms: float = 200.0, end_silence_ms: float = 300.0,
        interims: bool = False, fail_opens: int = 0, die_after_bytes: int | None = None,
    ) -> None:
        self.utterances = list(utterances)
        self.manual = manual
        self.default_text = default_text
        self.speech_dbfs = speech_dbfs
        self.min_speech_ms = min_speech_ms
        self.end_silence_ms = end_silence_ms
        self.interims = interims
        self.fail_opens = fail_opens
        self.die_after_bytes = die_after_bytes
        self.streams: list[FakeSTTStream] = []
        self.emitted: list[Transcript] = []
        self.opened = asyncio.Event()

    async def open(self, *, sample_rate: int, call_id: str) -> FakeSTTStream:
        if self.fail_opens > 0:
            self.fail_opens -= 1
            raise ProviderError("fake STT unavailable")
        stream = FakeSTTStream(self, sample_rate, call_id)
        self.streams.append(stream)
        self.opened.set()
        return stream

    async def wait_stream(self, n: int = 1, timeout: float = 5.0) -> FakeSTTStream:
        async with asyncio.timeout(timeout):
            while len(self.streams) < n:
                await asyncio.sleep(0.005)
        return self.streams[n - 1]


# ---- LLM ----------------------------------------------------------------------------------

ScriptItem = str | ToolCall | float | BaseException
Script = Sequence[ScriptItem]


class FakeLLM:
    """Replies from `replies` in order (one script per request), then `default`."""

    name = "fakellm"

    def __init__(
        self, replies: Sequence[Script] = (), *, default: Script = ("Sure. ", "I can help with that."),
        responder: Callable[[Sequence[ChatMessage]], Script] | None = None,
    ) -> None:
        self.replies = list(replies)
        self.default = list(default)
        self.responder = responder
        self.requests: list[list[ChatMessage]] = []
        self.tools_seen: list[list[str]] = []
        self.cancelled = 0
        self.finished = 0

    async def stream(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> AsyncIterator[Any]:
        self.requests.append([ChatMessage(m.role, m.content) for m in messages])
        self.tools_seen.append([t.name for t in tools])
        if self.responder is not None:
            script = list(self.responder(messages))
        else:
            script = list(self.replies.pop(0)) if self.replies else list(self.default)
        try:
            for item in script:
                if isinstance(item, float):
                    await asyncio.sleep(item)
                elif isinstance(item, BaseException):
                    raise item
                elif isinstance(item, ToolCall):
                    yield item
                else:
                    yield TextDelta(item)
                await asyncio.sleep(0)
            self.finished += 1
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise


# ---- TTS ----------------------------------------------------------------------------------


class FakeTTS:
    def __init__(
        self, *, name: str = "faketts", freq: float = 440.0, ms_per_char: float = 40.0, first_byte_delay: float = 0.0,
        piece_ms: float = 20.0, fail: bool = False, fail_after_pieces: int | None = None, min_ms: float = 200.0,
        freq_for: Callable[[str], float] | None = None,
    ) -> None:
        self.name = name
        self.freq = freq
        self.freq_for = freq_for
        self.ms_per_char = ms_per_char
        self.first_byte_delay = first_byte_delay
        self.piece_ms = piece_ms
        self.fail = fail
        self.fail_after_pieces = fail_after_pieces
        self.min_ms = min_ms
        self.calls: list[tuple[str, int]] = []
        self.active = 0

    def duration_ms(self, text: str) -> float:
        return max(self.min_ms, len(text) * self.ms_per_char)

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        self.calls.append((text, sample_rate))
        self.active += 1
        try:
            if self.first_byte_delay:
                await asyncio.sleep(self.first_byte_delay)
            if self.fail:
                raise ProviderError(f"{self.name} is down")
            freq = self.freq_for(text) if self.freq_for is not None else self.freq
            pcm = tone(sample_rate, self.duration_ms(text), freq)
            step = 2 * int(sample_rate * self.piece_ms / 1000)
            for i, off in enumerate(range(0, len(pcm), step)):
                if self.fail_after_pieces is not None and i >= self.fail_after_pieces:
                    raise ProviderError(f"{self.name} failed mid-stream")
                yield pcm[off : off + step]
                await asyncio.sleep(0)
        finally:
            self.active -= 1


@dataclass
class FakeProviders:
    """Shaped like voice.providers.factory.ProviderSet."""

    stt: Any = field(default_factory=FakeSTT)
    llm: Any = field(default_factory=FakeLLM)
    tts: Any = field(default_factory=FakeTTS)
    fallback_tts: Any = None
    description: str = "fake STT, fake LLM, fake TTS"
