"""The session's front end on a jittery line: bursts and stalls do not move speech onsets
or ends (the turn timing), and the recogniser's words are checked against the bot's."""

from __future__ import annotations

import numpy as np
import pytest

from tests.voice.line.line_speech import rendered_speech
from voice.line import JitterShaper, parse_line_spec
from voice.line.offline import simulate_call
from voice.playback import Utterance
from voice.uplink import Uplink, UplinkOptions


@pytest.fixture(scope="module")
def speech() -> dict[tuple[str, int], bytes]:
    return rendered_speech()


@pytest.mark.parametrize("rate", [8000, 16000])
def test_jitter_does_not_move_onsets_or_ends(speech: dict, rate: int) -> None:
    caller = speech[("caller", rate)]
    steady = simulate_call(parse_line_spec("codec=ulaw,noise=-55dBFS"), rate, bot=b"", caller=caller, caller_at=1.0)
    bursty = simulate_call(parse_line_spec("codec=ulaw,noise=-55dBFS,jitter=100ms"), rate, bot=b"", caller=caller,
                           caller_at=1.0)
    assert np.max(np.diff(bursty.arrivals)) > 0.06  # it did stall
    assert len(steady.onsets) == len(bursty.onsets) == 1
    assert abs(steady.onsets[0].onset - bursty.onsets[0].onset) < 0.005
    assert len(steady.ends) == len(bursty.ends) == 1
    assert abs(steady.ends[0].end - bursty.ends[0].end) < 0.005


def test_the_bots_words_heard_back_are_echo_unless_the_caller_spoke() -> None:
    up = Uplink(16000, 0.0, UplinkOptions())
    utt = Utterance("Hello and thank you for calling Acme.")
    utt.chunks = [(1.0, 1.0), (2.0, 1.0)]
    utt.complete = True
    up.speaking(utt)
    assert not up.is_echo("hello", 1.8)  # nothing came up the line: not echo, whatever the words
    shaper, t = JitterShaper(0), 0.0
    rng = np.random.default_rng(1)
    for _ in range(50):  # sound on the line (an echo residue the VAD did not take for speech)
        t += 0.02
        up.push((rng.standard_normal(320) * 300).astype(np.int16).tobytes(), shaper.release_at(t, 0.02) + 0.8)
    assert up.is_echo("hello", 1.8)
    assert not up.is_echo("I want the prices", 1.8)
