"""`kconsole replay DIR --report` and `--json`: recorded calls without a terminal UI.

Per call: a summary block (who, when, how long, the outcome, the greeting latency, turns,
barge-ins, how much each side spoke, what the recording is missing), then a per-turn
table: what the caller said, what the bot said (and, when cut, what the caller heard),
the stage timings and the barge-in latency.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from voice.replay.summary import CallSummary, TurnRow


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m)}:{s:04.1f}"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _bot_cell(row: TurnRow) -> str:
    if row.heard is None:
        return row.bot
    return f"{row.heard or '(nothing)'} ✂ [unheard: {row.bot[len(row.heard):].strip() or '…'}]"


def render_call(s: CallSummary, *, width: int = 32, bot_width: int = 48) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.started_ts)) if s.started_ts else "?"
    who = s.caller or "unknown caller"
    lines = [
        f"call {s.call_id}  ({s.folder})",
        f"  {who}" + (f" -> {s.virtual_number}" if s.virtual_number else "")
        + f", {when}, {_clock(s.duration_s)} long, {s.sample_rate} Hz",
        f"  outcome: {s.outcome}",
        f"  greeting: first audio {_ms(s.greeting_ms)} ms after the metadata" if s.greeting_ms is not None
        else "  greeting: no timing recorded",
        f"  turns: {s.answered_turns} answered"
        + (f", {len(s.cuts)} barge-in{'s' * (len(s.cuts) != 1)} (killAudio "
           + ", ".join(f"{c.latency_ms:.0f} ms at {_clock(c.at_s)}" for c in s.cuts) + ")" if s.cuts else ", no barge-ins"),
        "  speech: caller " + (f"{s.caller_speech_s:.1f} s" if s.caller_speech_s is not None else "not recorded")
        + ", bot heard " + (f"{s.bot_audio_s:.1f} s" if s.bot_audio_s is not None else "not recorded"),
    ]
    for note in s.missing:
        lines.append(f"  missing: {note}")
    lines.append("")
    head = (f"  {'turn':>4} {'at':>6}  {'caller said':<{width}}  {'bot said':<{bot_width}}  "
            f"{'STT':>5} {'LLM':>5} {'sent':>5} {'TTS':>5} {'audio':>5} {'total':>6} {'barge':>5}")
    lines.append(head)
    if not s.turns:
        lines.append("  (no turns recorded)")
    for row in s.turns:
        total = row.greeting_ms if row.turn == 0 else row.total_ms
        lines.append(
            f"  {('greet' if row.turn == 0 else str(row.turn)):>4} {_clock(row.at_s):>6}  "
            f"{_clip(row.caller or ('-' if row.turn else ''), width):<{width}}  "
            f"{_clip(_bot_cell(row) or '(no reply)', bot_width):<{bot_width}}  "
            f"{_ms(row.stt_final_ms):>5} {_ms(row.llm_first_token_ms):>5} {_ms(row.first_sentence_ms):>5} "
            f"{_ms(row.tts_first_byte_ms):>5} {_ms(row.first_audio_ms):>5} {_ms(total):>6} {_ms(row.barge_in_ms):>5}"
        )
    return "\n".join(lines)


def render_text(summaries: Sequence[CallSummary]) -> str:
    if not summaries:
        return "no recordings found"
    blocks = [render_call(s) for s in summaries]
    footer = f"\n{len(summaries)} call{'s' * (len(summaries) != 1)}"
    return "\n\n".join(blocks) + ("\n" + footer if len(summaries) > 1 else "")


def render_json(summaries: Sequence[CallSummary], **kwargs: object) -> str:
    return json.dumps({"calls": [s.to_dict() for s in summaries]}, ensure_ascii=False, **kwargs)  # type: ignore[arg-type]
