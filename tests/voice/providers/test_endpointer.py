"""Endpointer: utterance segmentation by WebRTC VAD, counted in 30 ms frames."""

from __future__ import annotations

import pytest

from tests.voice.providers.provider_fakes.speech import quiet, speechlike
from voice.providers.endpoint import Endpointer


def kinds(events):
    return [e.kind for e in events if e.kind != "audio"]


@pytest.mark.parametrize("rate", [8000, 16000, 32000, 48000])
def test_one_utterance_with_preroll(rate):
    ep = Endpointer(rate, silence_ms=300)
    events = ep.push(quiet(rate, 600) + speechlike(rate, 600) + quiet(rate, 600))
    assert kinds(events) == ["start", "end"]
    start = events[0]
    assert len(start.audio) >= ep.frame_bytes * 3, "starts with the pre-roll and trigger frames"
    audio = start.audio + b"".join(e.audio for e in events if e.kind == "audio")
    assert 600 <= len(audio) / 2 / rate * 1000 <= 600 + 300 + 330
    assert events[-1].voiced_ms >= 450


def test_two_utterances_and_pause_shorter_than_silence_ms():
    rate = 16000
    ep = Endpointer(rate, silence_ms=500)
    events = ep.push(speechlike(rate, 400) + quiet(rate, 300) + speechlike(rate, 400) + quiet(rate, 700)
                     + speechlike(rate, 400) + quiet(rate, 700))
    assert kinds(events) == ["start", "end", "start", "end"]


def test_silence_and_quiet_hiss_never_start():
    rate = 16000
    ep = Endpointer(rate)
    assert ep.push(quiet(rate, 2000)) == []
    assert ep.push(speechlike(rate, 1000, amp=20)) == [], "below the energy floor"


def test_long_speech_is_cut_at_max_utterance():
    rate = 16000
    ep = Endpointer(rate, max_utterance_ms=1000)
    events = ep.push(speechlike(rate, 2500))
    ends = [e for e in events if e.kind == "end"]
    assert ends and ends[0].forced


def test_flush_closes_an_open_utterance():
    rate = 16000
    ep = Endpointer(rate)
    assert kinds(ep.push(speechlike(rate, 500))) == ["start"]
    assert kinds(ep.flush()) == ["end"]
    assert ep.flush() == []


def test_bad_rate():
    with pytest.raises(ValueError):
        Endpointer(22050)
