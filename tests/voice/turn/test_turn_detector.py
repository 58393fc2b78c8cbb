"""TurnDetector on real synthesised speech: early on complete turns, patient in pauses.

Turns are eSpeak phrases joined with exact pauses (`bench.turn_corpus`), over a phone
line's hiss, at 16 kHz and at 8 kHz through a mu-law round trip. The transcript the
detector is told is what a recogniser could have produced by then: the fragments
whose speech has ended.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import pytest

from bench.turn_corpus import Turn, build_turn
from voice.turn import TurnConfig, TurnDetector, TurnState

VOICE = ("en-us", 165, 50)
CHUNK_MS = 20


@lru_cache(maxsize=64)
def turn(fragments: tuple[str, ...], pauses: tuple[int, ...], rate: int) -> Turn:
    with ThreadPoolExecutor(max_workers=1) as pool:  # its own loop: works inside a test's loop too
        return pool.submit(asyncio.run, build_turn("t", "x", list(fragments), list(pauses), rate, VOICE)).result()


def stream(t: Turn, det: TurnDetector | None = None) -> list[tuple[float, TurnState]]:
    """(audio time, state) after every 20 ms chunk."""
    det = det or TurnDetector(t.rate)
    step = t.rate * CHUNK_MS // 1000 * 2
    out = []
    for i in range(0, len(t.pcm), step):
        det.push(t.pcm[i : i + step])
        det.transcript(t.text_until(det.now))
        out.append((det.now, det.decide().state))
    return out


def first(states: list[tuple[float, TurnState]], state: TurnState) -> float | None:
    return next((t for t, s in states if s is state), None)


RATES = pytest.mark.parametrize("rate", [16000, 8000])


@RATES
@pytest.mark.parametrize("text", ["What are your opening hours?", "Has my order shipped?", "Theek hai, thank you.",
                                  "I want to talk to an agent."])
def test_complete_turn_is_over_soon_after_the_caller_stops(text, rate):
    t = turn((text,), (), rate)
    states = stream(t)
    over = first(states, TurnState.OVER)
    assert over is not None
    assert over > t.end, "never over while the caller speaks"
    assert over - t.end <= 0.45, f"answered {1000 * (over - t.end):.0f} ms after the end"


@RATES
@pytest.mark.parametrize(("fragments", "pauses"), [
    (("I want to,", "uh,", "check my order status."), (800, 700)),
    (("Do you have,", "uh,", "a price list?"), (900, 600)),
    (("Where is,", "my order?"), (850,)),
    (("Haan,", "my order number is", "one two three four."), (700, 900)),
])
def test_hesitations_and_unfinished_sentences_are_waited_out(fragments, pauses, rate):
    t = turn(fragments, pauses, rate)
    states = stream(t)
    over = first(states, TurnState.OVER)
    assert over is not None and over > t.end, f"cut off at {over:.2f} s; the turn ends at {t.end:.2f} s"
    assert over - t.end <= 0.6


@RATES
def test_phone_number_read_in_groups_with_pauses(rate):
    t = turn(("My mobile number is nine eight", "four five", "zero one two", "three four five."), (800, 900, 700), rate)
    states = stream(t)
    over = first(states, TurnState.OVER)
    assert over is not None and over > t.end
    t2 = turn(("My order number is", "four five six,", "seven eight nine."), (750, 850), rate)
    over2 = first(stream(t2), TurnState.OVER)
    assert over2 is not None and over2 > t2.end


def test_the_wait_adapts_between_the_minimum_and_the_maximum():
    config = TurnConfig(min_silence_ms=200, max_silence_ms=1000)
    complete = stream(turn(("What time do you close?",), (), 16000), TurnDetector(16000, config))
    open_t = turn(("My order number is",), (), 16000)
    unfinished = stream(open_t, TurnDetector(16000, config))
    end_c = turn(("What time do you close?",), (), 16000).end
    assert first(complete, TurnState.OVER) - end_c < 0.4  # type: ignore[operator]
    over = first(unfinished, TurnState.OVER)
    assert over is not None, "an unfinished sentence still ends at the maximum"
    assert 0.95 <= over - open_t.end <= 1.25


def test_likely_comes_before_over_on_a_complete_turn():
    states = stream(turn(("What are your opening hours?",), (), 16000))
    likely, over = first(states, TurnState.LIKELY), first(states, TurnState.OVER)
    assert likely is not None and over is not None and likely < over


def test_silence_and_line_noise_alone_are_idle():
    det = TurnDetector(8000)
    det.push(bytes(8000 * 2 * 3))
    assert det.decide().state is TurnState.IDLE


def test_reset_starts_a_new_turn():
    t = turn(("What time do you close?",), (), 16000)
    det = TurnDetector(16000)
    stream(t, det)
    assert det.decide().over
    det.reset()
    assert det.decide().state is TurnState.IDLE


def test_config_is_validated():
    with pytest.raises(ValueError):
        TurnConfig(min_silence_ms=500, max_silence_ms=100)
    with pytest.raises(ValueError):
        TurnConfig(p_low=0.9, p_high=0.1)


def test_odd_sample_rates_and_odd_chunks_work():
    t = turn(("Has my order shipped?",), (), 16000)
    from voice.audio import resample

    pcm = resample(t.pcm, 16000, 24000)
    det = TurnDetector(24000)
    over = None
    for i in range(0, len(pcm), 333):  # odd-sized chunks (half samples too)
        det.push(pcm[i : i + 333])
        det.transcript(t.text_until(det.now))
        if over is None and det.decide().over:
            over = det.now
    assert over is not None and over > t.end
