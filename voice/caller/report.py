"""What a call produced: `CallerEvent`s as they happen and the `CallReport` at the end.

The report holds the outcome, the greeting latency (metadata sent -> first
playAudio), per turn the time from the caller's last word to the first reply audio,
barge-in latency (caller speech onset -> killAudio), the bot's audio, and a
transcript. Times are wall-clock milliseconds since the connection opened.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from voice.audio import duration_ms, rms_dbfs

Outcome = Literal["completed", "transferred", "disconnected", "no-audio timeout", "protocol error", "error"]
OK_OUTCOMES: frozenset[str] = frozenset({"completed", "transferred", "disconnected"})
SILENCE_DBFS = -60.0  # a reply quieter than this throughout is silence to the caller


EventKind = Literal[
    "connected", "greeting", "caller_said", "bot_audio", "bot_said", "kill_audio", "no_reply",
    "transfer", "disconnect", "protocol_error", "cut", "error", "hangup", "ended", "bot_heard",
]


@dataclass(frozen=True, slots=True)
class CallerEvent:
    """Something that happened on the call, `t_ms` after the connection opened (wall time)."""

    kind: EventKind
    t_ms: float
    text: str = ""
    value_ms: float | None = None  # the latency or duration the event is about, if any
    turn: int | None = None


@dataclass(slots=True)
class TurnReport:
    """What happened around one caller turn; times are ms since the connection opened."""

    index: int
    text: str
    barge_in: bool = False
    speech_start_ms: float | None = None
    speech_end_ms: float | None = None
    first_audio_ms: float | None = None   # caller stopped speaking -> first reply playAudio
    kill_audio_ms: float | None = None    # caller speech onset -> killAudio (barge-in latency)
    expects_reply: bool = True            # False for a line scripted to wait a fixed time instead


@dataclass(slots=True)
class BotReply:
    """One stretch of bot audio, from the first chunk to a drained queue (or killAudio)."""

    start_ms: float
    audio_ms: float = 0.0       # received
    heard_ms: float = 0.0       # played before it ended or was killed
    interrupted: bool = False
    text: str | None = None     # filled when transcription was asked for
    pcm: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    t_ms: float
    speaker: Literal["caller", "bot"]
    text: str


@dataclass(slots=True)
class CallReport:
    """Everything measured on one call. `bot_audio` is all PCM the bot sent, at `sample_rate`."""

    url: str
    call_id: str
    sample_rate: int
    speed: float
    outcome: Outcome = "error"
    transfer_to: str | None = None
    error: str | None = None
    greeting_ms: float | None = None
    duration_ms: float = 0.0
    turns: list[TurnReport] = field(default_factory=list)
    replies: list[BotReply] = field(default_factory=list)
    transcript: list[TranscriptLine] = field(default_factory=list)
    kill_audio_count: int = 0
    protocol_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)   # what went wrong on a call that ended normally
    bot_said: list[str] = field(default_factory=list)   # the bot's sentences, when the bot shares them
    bot_audio: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        """A call that ended the way calls should (completed, transferred or hung up by the
        bot) with every turn answered in audible speech and no protocol error on the way."""
        return self.outcome in OK_OUTCOMES and not self.failures and not self.protocol_errors

    def problems(self) -> list[str]:
        """Every distinct thing that went wrong, once each (a repeated protocol error counted)."""
        out: list[str] = []
        if self.outcome not in OK_OUTCOMES:
            out.append(self.describe_outcome())
        counts: dict[str, int] = {}
        for message in self.protocol_errors:
            counts[message] = counts.get(message, 0) + 1
        for message, n in counts.items():
            if self.outcome == "protocol error" and message == self.error:
                n -= 1  # the outcome line already says it once
                if n == 0:
                    continue
            out.append(f"protocol error: {message}" + (f" ({n} times)" if n > 1 else ""))
        out.extend(self.failures)
        return out

    def fail(self, message: str) -> None:
        """Record what went wrong on a call that otherwise ended normally (once each)."""
        if message not in self.failures:
            self.failures.append(message)

    def unanswered(self, index: int, reply_timeout: float) -> str:
        """The failure line for a caller turn the bot never answered."""
        turn = self.turns[index] if index < len(self.turns) else None
        said = f' ("{turn.text[:40]}")' if turn is not None else ""
        return f"turn {index + 1}{said} got no reply within {reply_timeout:g} s"

    def judge(self, reply_timeout: float) -> None:
        """A call that ended normally still fails if the bot left a turn unanswered or
        answered in silence (a WAV of zeros is the guide's "caller hears silence")."""
        if self.outcome not in OK_OUTCOMES:
            return  # the outcome is the failure; what it cut short is not a second one
        turns = self.turns
        for turn in turns:
            if turn.first_audio_ms is not None or not turn.expects_reply:
                continue
            last = turn is turns[-1]
            if last and self.outcome in ("transferred", "disconnected"):
                continue  # answered by transferring or hanging up
            self.fail(self.unanswered(turn.index, reply_timeout))
        for i, reply in enumerate(self.replies):
            if reply.pcm and reply.audio_ms > 0 and rms_dbfs(reply.pcm) < SILENCE_DBFS:
                what = "the greeting" if i == 0 else f"the bot's reply at {reply.start_ms / 1000:.1f} s"
                self.fail(f"{what} was silence ({reply.audio_ms:.0f} ms of audio with nothing in it)")

    def describe_outcome(self) -> str:
        if self.outcome == "transferred":
            return f"transferred to {self.transfer_to}"
        if self.outcome == "disconnected":
            return "disconnected by the bot"
        if self.outcome == "completed":
            return "completed (the caller hung up)"
        if self.outcome == "no-audio timeout":
            return f"cut: {self.error}" if self.error else "cut: no audio from the bot"
        return f"{self.outcome}: {self.error}" if self.error else self.outcome

    @property
    def bot_audio_ms(self) -> float:
        return duration_ms(len(self.bot_audio), self.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the audio (its duration is included instead)."""
        data = {
            "url": self.url,
            "call_id": self.call_id,
            "sample_rate": self.sample_rate,
            "speed": self.speed,
            "outcome": self.outcome,
            "ok": self.ok,
            "transfer_to": self.transfer_to,
            "error": self.error,
            "greeting_ms": _round(self.greeting_ms),
            "duration_ms": _round(self.duration_ms),
            "bot_audio_ms": _round(self.bot_audio_ms),
            "kill_audio_count": self.kill_audio_count,
            "protocol_errors": list(self.protocol_errors),
            "failures": list(self.failures),
            "problems": self.problems(),
            "bot_said": list(self.bot_said),
            "turns": [{k: _round(v) if isinstance(v, float) else v for k, v in asdict(t).items()} for t in self.turns],
            "replies": [
                {k: _round(v) if isinstance(v, float) else v for k, v in asdict(r).items() if k != "pcm"}
                for r in self.replies
            ],
            "transcript": [asdict(line) | {"t_ms": _round(line.t_ms)} for line in self.transcript],
        }
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def format_ms(value: float | None) -> str:
    """A latency for people: "123 ms", or "-" when there is none."""
    return "-" if value is None or math.isnan(value) else f"{value:.0f} ms"
