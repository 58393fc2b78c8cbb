"""Recordings for the replay tests, written with the bot's own CallRecorder.

`write_recording` lays out a known call: a greeting, a caller line, a reply cut by a
barge-in, a second line and a reply that ends in a transfer; every event at a known
second so the tests can check positions exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voice.bus import (
    BargeIn,
    BotSentence,
    CallEnded,
    CallStarted,
    StateChanged,
    TranscriptEvent,
    Transferred,
    TurnMetrics,
)
from voice.recording import CallRecorder

RATE = 8000
T0 = 1_800_000_000.0


def tone(seconds: float, freq: float = 300.0, amp: float = 0.3) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * freq * t) * amp * 32767).astype("<i2").tobytes()


def events(call_id: str = "rec-1") -> list:
    at = lambda s: T0 + s  # noqa: E731
    return [
        CallStarted(call_id=call_id, ts=at(0), caller="+919876543210", virtual_number="+918069000000", sample_rate=RATE),
        StateChanged(call_id=call_id, ts=at(0.01), state="speaking"),
        BotSentence(call_id=call_id, ts=at(0.02), text="Hello! How can I help?", turn=0),
        TurnMetrics(call_id=call_id, ts=at(1.5), turn=0, greeting_ms=120.0, total_ms=120.0),
        StateChanged(call_id=call_id, ts=at(1.5), state="listening"),
        TranscriptEvent(call_id=call_id, ts=at(2.0), text="opening", final=False),
        TranscriptEvent(call_id=call_id, ts=at(2.6), text="opening hours", final=True),
        StateChanged(call_id=call_id, ts=at(2.7), state="speaking"),
        BotSentence(call_id=call_id, ts=at(3.0), text="We are open from nine to six.", turn=1),
        BargeIn(call_id=call_id, ts=at(3.8), latency_ms=140.0),
        BotSentence(call_id=call_id, ts=at(3.8), text="We are open from nine to six.", turn=1, heard="We are open"),
        TurnMetrics(call_id=call_id, ts=at(3.8), turn=1, stt_final_ms=300.0, llm_first_token_ms=90.0,
                    first_sentence_ms=110.0, tts_first_byte_ms=60.0, first_audio_ms=180.0, total_ms=480.0,
                    interrupted=True),
        TranscriptEvent(call_id=call_id, ts=at(4.6), text="a person please", final=True),
        BotSentence(call_id=call_id, ts=at(5.0), text="Putting you through.", turn=2),
        TurnMetrics(call_id=call_id, ts=at(6.0), turn=2, stt_final_ms=250.0, total_ms=400.0, first_audio_ms=150.0),
        Transferred(call_id=call_id, ts=at(6.1), destination="+919000000001"),
        CallEnded(call_id=call_id, ts=at(6.2), reason="transferred", duration_s=6.2),
    ]


def write_recording(root: Path, call_id: str = "rec-1", *, drop_events: bool = False) -> Path:
    """A complete recording under `root`; returns its folder."""
    rec = CallRecorder(root, call_id, RATE, started=0.0)
    rec.bot_audio(tone(1.4, 500), start=0.02)          # the greeting, heard whole
    rec.advance(1.5)
    rec.caller_audio(bytes(2 * int(RATE * 1.9)), now=1.9)  # silence, then the caller's line
    rec.caller_audio(tone(0.7, 200), now=2.6)
    rec.bot_audio(tone(2.0, 500), start=3.0)            # the reply, cut at 3.8
    rec.caller_audio(bytes(2 * int(RATE * 1.0)), now=3.6)
    rec.caller_audio(tone(1.0, 200), now=4.6)
    rec.cut(3.8)
    rec.bot_audio(tone(1.0, 500), start=5.0)
    rec.advance(6.2)
    if not drop_events:
        for event in events(call_id):
            rec.event(event)
    rec.close(6.2)
    return rec.folder
