"""The Stream Node's byte rate against the configured rate: one clear warning on a mismatch."""

from __future__ import annotations

import numpy as np
import pytest

from voice.line import JitterShaper
from voice.ratecheck import RateCheck


def _feed(check: RateCheck, stream_rate: int, seconds: float, jitter_ms: float = 0.0) -> list:
    shaper = JitterShaper(jitter_ms, seed=4)
    frame = stream_rate * 2 // 50
    found = []
    for k in range(int(seconds * 50)):
        got = check.push(frame, shaper.release_at(1.0 + (k + 1) * 0.02, 0.02))
        if got is not None:
            found.append(got)
    return found


@pytest.mark.parametrize(("configured", "actual"), [(16000, 8000), (8000, 16000), (16000, 48000), (24000, 16000)])
def test_mismatch_is_reported_once_with_both_rates_and_the_fix(configured: int, actual: int) -> None:
    found = _feed(RateCheck(configured), actual, 8.0, jitter_ms=80)
    assert len(found) == 1
    msg = found[0].message()
    assert f"{configured} Hz" in msg and f"{actual} Hz" in msg
    assert f"sampling-rate to {configured // 1000}k" in msg and f"BOT_SAMPLE_RATE={actual}" in msg


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_matching_rates_stay_quiet_even_with_jitter(rate: int) -> None:
    check = RateCheck(rate)
    assert _feed(check, rate, 8.0, jitter_ms=100) == []
    assert check.done and check.measured is not None and abs(check.measured - rate) < 0.05 * rate


def test_no_verdict_before_enough_audio() -> None:
    check = RateCheck(16000)
    assert _feed(check, 8000, 2.0) == [] and not check.done


def test_pauses_in_the_stream_are_not_a_slower_rate() -> None:
    """A caller that streams 1.5 s, pauses 2 s, streams again is at the right rate."""
    check, t, frame = RateCheck(16000), 0.0, 640
    for _ in range(4):
        for _ in range(75):
            t += 0.02
            assert check.push(frame, t) is None
        t += 2.0
    assert check.measured is not None and abs(check.measured - 16000) < 800


def _starved_reads(sent: list[float], stalls: list[tuple[float, float]], per_frame_s: float = 0.001) -> list[float]:
    """When a bot whose event loop stalls reads frames sent at `sent`: a frame waits in the
    socket until the loop runs again, then the queued frames are read back to back."""
    reads, free = [], 0.0
    for t in sent:
        at = max(t, free)
        for start, length in stalls:
            if start <= at < start + length:
                at = start + length
        reads.append(at)
        free = at + per_frame_s
    return reads


def _starved_loop(seconds: float) -> list[tuple[float, float]]:
    """Stalls of 300-600 ms every 0.7-1.2 s: a loop starved of CPU (a loaded fleet worker)."""
    rng = np.random.default_rng(7)
    stalls, t = [], 0.5
    while t < seconds:
        length = float(rng.uniform(0.3, 0.6))
        stalls.append((t, length))
        t += length + float(rng.uniform(0.7, 1.2))
    return stalls


def _feed_reads(check: RateCheck, stream_rate: int, reads: list[float]) -> list:
    frame = stream_rate * 2 // 50
    return [got for t in reads if (got := check.push(frame, t)) is not None]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_catch_up_after_the_bots_own_loop_stalls_is_not_a_faster_stream_node(rate: int) -> None:
    """Each stall's frames are read in a burst once the loop runs: 16 kHz read that way
    looked like 24 kHz when the stall's time was left out as a pause."""
    sent = [0.02 * (k + 1) for k in range(20 * 50)]
    check = RateCheck(rate, origin=0.0)
    assert _feed_reads(check, rate, _starved_reads(sent, _starved_loop(20.0))) == []
    assert check.done and check.measured is not None and abs(check.measured - rate) < 0.05 * rate
    assert check.stalled_s > 5 * check.paused_s


def test_a_stall_at_the_very_start_is_no_faster_stream_node() -> None:
    """The bot was busy when the call connected: the first 1.5 s of audio is one backlog."""
    sent = [0.02 * (k + 1) for k in range(8 * 50)]
    check = RateCheck(16000, origin=0.0)
    assert _feed_reads(check, 16000, _starved_reads(sent, [(0.0, 1.5)])) == []
    assert check.measured is not None and abs(check.measured - 16000) < 800


@pytest.mark.parametrize(("configured", "actual"), [(16000, 8000), (16000, 24000), (8000, 16000)])
def test_a_real_mismatch_is_still_found_while_the_loop_is_starved(configured: int, actual: int) -> None:
    sent = [0.02 * (k + 1) for k in range(20 * 50)]
    found = _feed_reads(RateCheck(configured, origin=0.0), actual, _starved_reads(sent, _starved_loop(20.0)))
    assert [m.likely for m in found] == [actual]


def test_pauses_and_stalls_in_one_call_are_told_apart() -> None:
    """A sender that stops for 2 s now and then, read by a loop that stalls: pauses are
    left out, stalls counted, and the rate is right."""
    sent, t = [], 0.0
    for _ in range(6):
        for _ in range(100):
            t += 0.02
            sent.append(t)
        t += 2.0
    check = RateCheck(16000, origin=0.0, after_s=10.0)  # measure the whole call
    stalls = [(0.9, 0.4), (5.1, 0.5), (9.5, 0.35), (13.2, 0.45)]
    assert _feed_reads(check, 16000, _starved_reads(sent, stalls)) == []
    assert check.measured is not None and abs(check.measured - 16000) < 800
    assert 9.0 < check.paused_s < 11.0
