"""What a recorded call amounts to: outcome, turns, barge-ins, cut points, levels.

Turns are numbered as the bot numbers them (0 is the greeting). A caller's final
transcripts belong to the turn the bot answers them with: the finals heard after the
previous turn's first sentence and before this turn's. A bot sentence that came again
with `heard` set was cut by a barge-in: the caller heard only that part.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from voice.bus import BargeIn, BotSentence, CallEnded, CallStarted, TranscriptEvent, Transferred, TurnMetrics
from voice.replay.load import Recording

LEVEL_STEP_S = 0.05
SILENCE_DBFS = -50.0  # quieter than this (per 50 ms) counts as silence for "who spoke when"


@dataclass(slots=True)
class TurnRow:
    turn: int
    at_s: float | None = None            # the bot's first sentence of this turn, seconds into the call
    caller: str = ""                     # what the caller said (finals joined); "" for the greeting
    bot: str = ""                        # every sentence the bot started
    heard: str | None = None             # set when cut: what the caller actually heard of `bot`
    cut_at_s: float | None = None        # when it was cut (the barge-in's killAudio)
    barge_in_ms: float | None = None     # speech onset -> killAudio
    stt_final_ms: float | None = None
    llm_first_token_ms: float | None = None
    first_sentence_ms: float | None = None
    tts_first_byte_ms: float | None = None
    first_audio_ms: float | None = None
    total_ms: float | None = None
    greeting_ms: float | None = None
    interrupted: bool = False

    @property
    def cut(self) -> bool:
        return self.heard is not None


@dataclass(slots=True)
class CutPoint:
    at_s: float
    latency_ms: float
    turn: int | None


@dataclass(slots=True)
class CallSummary:
    folder: str
    call_id: str
    caller: str
    virtual_number: str
    started_ts: float
    sample_rate: int
    duration_s: float
    outcome: str
    end_reason: str
    transferred_to: str | None
    greeting_ms: float | None
    turns: list[TurnRow] = field(default_factory=list)
    cuts: list[CutPoint] = field(default_factory=list)
    caller_speech_s: float | None = None
    bot_audio_s: float | None = None
    missing: list[str] = field(default_factory=list)
    truncated: bool = False
    ended_by: str = "unknown"  # the typed outcome (voice.outcome); "unknown" for older recordings

    @property
    def answered_turns(self) -> int:
        return sum(1 for t in self.turns if t.turn > 0 and t.bot)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["answered_turns"] = self.answered_turns
        for row in data["turns"]:
            row["cut"] = row["heard"] is not None
        return _rounded(data)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def levels_dbfs(pcm: bytes, rate: int, step_s: float = LEVEL_STEP_S) -> np.ndarray:
    """RMS level of each `step_s` of audio in dBFS (-inf for digital silence)."""
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    n = max(1, int(rate * step_s))
    count = len(samples) // n
    if count == 0:
        return np.zeros(0)
    blocks = samples[: count * n].reshape(count, n)
    rms = np.sqrt(np.mean(blocks * blocks, axis=1)) / 32768.0
    with np.errstate(divide="ignore"):
        return 20 * np.log10(rms)


def voiced_seconds(pcm: bytes, rate: int) -> float:
    levels = levels_dbfs(pcm, rate)
    return float(np.count_nonzero(levels > SILENCE_DBFS)) * LEVEL_STEP_S


def outcome_of(ended: CallEnded | None, transferred_to: str | None, truncated: bool) -> str:
    """The recorded CallEnded's own words; older recordings (no typed outcome) are read as before."""
    if truncated:
        return "unknown (recording cut)"
    if ended is not None and ended.outcome != "unknown":
        return ended.text
    end_reason = ended.reason if ended else ""
    if transferred_to:
        return f"transferred to {transferred_to}"
    return end_reason or "ended"


def summarize(rec: Recording) -> CallSummary:
    started = next((e for e in rec.events if isinstance(e, CallStarted)), None)
    ended = next((e for e in rec.events if isinstance(e, CallEnded)), None)
    transferred = next((e for e in rec.events if isinstance(e, Transferred)), None)
    rows: dict[int, TurnRow] = {}
    pending_caller: list[str] = []
    cuts: list[CutPoint] = []
    current_turn: int | None = None

    def row(turn: int) -> TurnRow:
        if turn not in rows:
            rows[turn] = TurnRow(turn=turn)
        return rows[turn]

    for event in rec.events:
        if isinstance(event, TranscriptEvent) and event.final and event.text.strip():
            pending_caller.append(event.text.strip())
        elif isinstance(event, BotSentence):
            r = row(event.turn)
            if event.heard is None:
                if r.at_s is None:
                    r.at_s = rec.at(event.ts)
                    if event.turn > 0 and pending_caller:
                        r.caller = " ".join(pending_caller)
                        pending_caller = []
                r.bot = f"{r.bot} {event.text}".strip()
                current_turn = event.turn
            else:
                # A cut sentence: what came before it in this turn was heard whole.
                whole = r.bot.rsplit(event.text, 1)[0] if event.text in r.bot else ""
                r.heard = f"{whole.strip()} {event.heard.strip()}".strip()
        elif isinstance(event, BargeIn):
            cut = CutPoint(at_s=rec.at(event.ts), latency_ms=event.latency_ms, turn=current_turn)
            cuts.append(cut)
            if current_turn is not None:
                r = row(current_turn)
                if r.cut_at_s is None:
                    r.cut_at_s, r.barge_in_ms = cut.at_s, cut.latency_ms
        elif isinstance(event, TurnMetrics):
            r = row(event.turn)
            for name in ("stt_final_ms", "llm_first_token_ms", "first_sentence_ms", "tts_first_byte_ms",
                         "first_audio_ms", "total_ms", "greeting_ms"):
                value = getattr(event, name)
                if value is not None:
                    setattr(r, name, value)
            r.interrupted = r.interrupted or event.interrupted
    if pending_caller:  # the caller's last words got no reply before the call ended
        last = max(rows) + 1 if rows else 1
        row(last).caller = " ".join(pending_caller)
    greeting = rows.get(0)
    end_reason = ended.reason if ended else ""
    return CallSummary(
        folder=str(rec.folder),
        call_id=rec.call_id,
        caller=started.caller if started else "",
        virtual_number=started.virtual_number if started else "",
        started_ts=rec.start_ts,
        sample_rate=rec.sample_rate,
        duration_s=rec.duration_s,
        outcome=outcome_of(ended, transferred.destination if transferred else None, rec.truncated),
        end_reason=end_reason,
        transferred_to=transferred.destination if transferred else None,
        greeting_ms=greeting.greeting_ms if greeting else None,
        turns=[rows[k] for k in sorted(rows)],
        cuts=cuts,
        caller_speech_s=voiced_seconds(rec.caller.pcm, rec.caller.rate) if rec.caller else None,
        bot_audio_s=voiced_seconds(rec.bot.pcm, rec.bot.rate) if rec.bot else None,
        missing=list(rec.missing),
        truncated=rec.truncated,
        ended_by=ended.outcome if ended else "unknown",
    )
