"""The Stream Node's byte rate against the configured rate: one clear warning on a mismatch."""

from __future__ import annotations

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
