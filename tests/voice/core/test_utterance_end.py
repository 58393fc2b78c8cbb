"""UtteranceEnd on a ManualClock: finals join into one utterance, dispatched on
speech_final or after the quiet gap, with the caller's stop time when it is known."""

from __future__ import annotations

import asyncio

from voice.clock import ManualClock
from voice.utterance_end import UtteranceEnd


class Vad:
    def __init__(self) -> None:
        self.in_speech = False
        self.last_speech_end: float | None = None


def detector(clock: ManualClock, vad: Vad, gap_s: float = 0.8) -> tuple[UtteranceEnd, list[tuple[str, float | None, float | None]]]:
    got: list[tuple[str, float | None, float | None]] = []

    async def on_utterance(text: str, stt_final: float | None, stopped: float | None) -> None:
        got.append((text, stt_final, stopped))

    return UtteranceEnd(clock=clock, gap_s=gap_s, vad=vad, on_utterance=on_utterance), got


async def test_speech_final_dispatches_at_once_with_the_pieces_joined() -> None:
    clock, vad = ManualClock(start=0.0), Vad()
    eou, got = detector(clock, vad)
    await eou.final("what are", at=1.0, speech_final=False)
    await eou.final("your hours", at=1.5, speech_final=True)
    assert got == [("what are your hours", 1.0, None)]
    assert eou.pending == "" and not eou.timer_armed


async def test_without_speech_final_the_gap_timer_dispatches_after_gap_s() -> None:
    clock, vad = ManualClock(start=0.0), Vad()
    eou, got = detector(clock, vad, gap_s=0.8)
    await eou.final("hello", at=0.0, speech_final=False)
    await clock.advance(0.7)
    assert got == [] and eou.timer_armed
    await clock.advance(0.2)
    assert got == [("hello", 0.0, None)]


async def test_the_timer_waits_while_the_caller_is_still_speaking() -> None:
    clock, vad = ManualClock(start=0.0), Vad()
    eou, got = detector(clock, vad, gap_s=0.5)
    await eou.final("I would like", at=0.0, speech_final=False)
    vad.in_speech = True
    await clock.advance(2.0)
    assert got == []
    vad.in_speech = False
    await clock.advance(0.6)
    assert [g[0] for g in got] == ["I would like"]


async def test_a_vad_speech_end_arms_the_timer_only_with_text_pending() -> None:
    clock, vad = ManualClock(start=0.0), Vad()
    eou, got = detector(clock, vad, gap_s=0.3)
    eou.speech_ended(1.0)
    assert not eou.timer_armed
    eou.pending = "pending words"
    eou.speech_ended(1.2)
    assert eou.timer_armed
    await clock.advance(0.4)
    assert [g[0] for g in got] == ["pending words"]


async def test_the_caller_stop_time_comes_from_the_vad_and_never_after_the_transcript() -> None:
    clock, vad = ManualClock(start=0.0), Vad()
    eou, got = detector(clock, vad)
    eou.speech_started()
    eou.speech_ended(2.0)
    await eou.final("yes", at=2.3, speech_final=True)
    assert got[-1] == ("yes", 2.3, 2.0)
    eou.speech_started()
    eou.speech_ended(5.0)  # later than the transcript: belongs to the next words
    await eou.final("no", at=4.0, speech_final=True)
    assert got[-1] == ("no", 4.0, None)
    await eou.final("again", at=6.0, speech_final=True)  # no speech since the last turn
    assert got[-1] == ("again", 6.0, None)


async def test_wait_for_quiet_counts_from_the_latest_sound_and_gives_up_on_words() -> None:
    clock, vad = ManualClock(start=0.0), Vad()
    eou, _ = detector(clock, vad)
    waiter = asyncio.create_task(eou.wait_for_quiet(0.0, 1.0, also_after=lambda: None, give_up=lambda: False))
    await clock.advance(0.5)
    eou.words(0.5)  # an interim transcript restarts the quiet period
    await clock.advance(0.9)
    assert not waiter.done()
    await clock.advance(0.2)
    assert waiter.done() and waiter.result() is True
    eou.pending = "something"
    assert await eou.wait_for_quiet(0.0, 1.0, also_after=lambda: None, give_up=lambda: False) is False
