"""PCM helpers: streaming resampling keeps length and continuity; framing keeps every byte."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voice import audio


def tone(rate: int, ms: int, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * ms / 1000)) / rate
    return (np.sin(2 * np.pi * hz * t) * 12000).astype(np.int16).tobytes()


@pytest.mark.parametrize(("src", "dst"), [(22050, 8000), (16000, 48000), (24000, 16000), (16000, 16000)])
def test_streaming_resample_matches_duration(src: int, dst: int) -> None:
    pcm = tone(src, 1000)
    r = audio.Resampler(src, dst)
    out = b"".join(r.process(pcm[i : i + 333]) for i in range(0, len(pcm), 333)) + r.flush()
    assert abs(audio.duration_ms(len(out), dst) - 1000) < 5
    assert audio.rms_dbfs(out) == pytest.approx(audio.rms_dbfs(pcm), abs=0.5)


def test_framer_keeps_every_byte() -> None:
    f = audio.Framer(640)
    frames = f.push(b"\x01" * 1000) + f.push(b"\x02" * 1000)
    assert [len(x) for x in frames] == [640, 640, 640]
    assert len(f.remainder()) == 80
    with pytest.raises(ValueError):
        audio.Framer(3)


def test_levels_and_mix() -> None:
    assert audio.rms_dbfs(audio.silence(8000, 20)) == -math.inf
    loud = tone(8000, 20)
    assert -12 < audio.rms_dbfs(loud) < -6
    mixed = audio.mix(loud, audio.silence(8000, 40))
    assert len(mixed) == len(audio.silence(8000, 40)) and mixed[: len(loud)] == loud
    assert audio.chunk_bytes(16000, 20) == 640
