"""Per-turn timings, measured from day one.

A `TurnTimer` collects the instants of one turn on the call's clock; `finish()` turns
them into the `voice.bus.TurnMetrics` event (milliseconds, None for a stage that did not
happen). `LatencyStats` keeps a bounded sample of a figure for the server's summary
(median / p95), which `kconsole bot` prints on exit and benchmarks read.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from voice.bus import TurnMetrics


def _ms(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return round(max(0.0, (b - a) * 1000), 2)


@dataclass(slots=True)
class TurnTimer:
    """Instants (clock seconds) of one turn; set each once, in any order."""

    turn: int
    caller_stopped: float | None = None
    stt_final: float | None = None
    llm_first_token: float | None = None
    first_sentence: float | None = None
    tts_first_byte: float | None = None
    first_audio: float | None = None
    metadata: float | None = None  # turn 0 (greeting) only
    interrupted: bool = False

    def mark(self, name: str, now: float) -> None:
        """Record `name` at `now` unless it was already recorded (first one wins)."""
        if getattr(self, name) is None:
            setattr(self, name, now)

    def finish(self, call_id: str) -> TurnMetrics:
        if self.turn == 0:
            return TurnMetrics(
                call_id=call_id, turn=0, greeting_ms=_ms(self.metadata, self.first_audio),
                tts_first_byte_ms=None, interrupted=self.interrupted,
            )
        return TurnMetrics(
            call_id=call_id,
            turn=self.turn,
            stt_final_ms=_ms(self.caller_stopped, self.stt_final),
            llm_first_token_ms=_ms(self.stt_final, self.llm_first_token),
            first_sentence_ms=_ms(self.stt_final, self.first_sentence),
            tts_first_byte_ms=_ms(self.first_sentence, self.tts_first_byte),
            first_audio_ms=_ms(self.stt_final, self.first_audio),
            total_ms=_ms(self.caller_stopped, self.first_audio),
            interrupted=self.interrupted,
        )


def describe(m: TurnMetrics) -> str:
    """One log line: only the stages that happened."""
    if m.turn == 0:
        return f"greeting first audio {m.greeting_ms} ms" if m.greeting_ms is not None else "greeting not played"
    parts = []
    for label, value in (
        ("stt", m.stt_final_ms), ("llm", m.llm_first_token_ms), ("sentence", m.first_sentence_ms),
        ("tts", m.tts_first_byte_ms), ("first_audio", m.first_audio_ms), ("total", m.total_ms),
    ):
        if value is not None:
            parts.append(f"{label}={value:.0f}ms")
    if m.interrupted:
        parts.append("interrupted")
    return f"turn {m.turn} timings: {' '.join(parts) or 'no audio'}"


@dataclass(slots=True)
class LatencyStats:
    """A bounded sample of one figure (ms) with median and p95."""

    name: str
    maxlen: int = 10_000
    values: deque[float] = field(default_factory=deque)

    def add(self, value: float | None) -> None:
        if value is None or math.isnan(value):
            return
        if len(self.values) >= self.maxlen:
            self.values.popleft()
        self.values.append(value)

    def percentile(self, p: float) -> float | None:
        if not self.values:
            return None
        data = sorted(self.values)
        k = (len(data) - 1) * p / 100
        lo, hi = math.floor(k), math.ceil(k)
        return data[lo] + (data[hi] - data[lo]) * (k - lo)

    def summary(self) -> str:
        if not self.values:
            return f"{self.name}: no samples"
        return f"{self.name}: n={len(self.values)} median={self.percentile(50):.1f} ms p95={self.percentile(95):.1f} ms"


class ServerStats:
    """The figures a bot server accumulates over all its calls."""

    def __init__(self) -> None:
        self.greeting = LatencyStats("greeting (metadata -> first playAudio)")
        self.first_audio = LatencyStats("STT final -> first playAudio")
        self.total = LatencyStats("caller stopped -> first playAudio")
        self.barge_in = LatencyStats("barge-in (speech onset -> killAudio)")
        self.calls = 0
        self.turns = 0

    def add_turn(self, m: TurnMetrics) -> None:
        if m.turn == 0:
            self.greeting.add(m.greeting_ms)
            return
        self.turns += 1
        self.first_audio.add(m.first_audio_ms)
        self.total.add(m.total_ms)

    def lines(self) -> list[str]:
        return [
            f"calls: {self.calls}, turns: {self.turns}",
            self.greeting.summary(), self.first_audio.summary(), self.total.summary(), self.barge_in.summary(),
        ]
