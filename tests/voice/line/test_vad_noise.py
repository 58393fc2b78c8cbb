"""The VAD in broadband noise: a voice 0 dB above white noise at 8 kHz is still found,
steady noise alone never is, and clean onsets stay as fast as before."""

from __future__ import annotations

import numpy as np
import pytest

from tests.voice.line.bench_free_onset import onset_s
from tests.voice.line.line_speech import rendered_speech
from voice.vad import SpeechStart, VoiceActivityDetector


@pytest.fixture(scope="module")
def speech() -> dict[tuple[str, int], bytes]:
    return rendered_speech()


def _confirmations(pcm: bytes, rate: int) -> list[float]:
    vad = VoiceActivityDetector(rate)
    n = rate // 50 * 2
    out = []
    for k in range(0, len(pcm) - n + 1, n):
        out += [ev.confirmed for ev in vad.push(pcm[k : k + n], (k + n) / 2 / rate) if isinstance(ev, SpeechStart)]
    return out


def _in_noise(speech: bytes, rate: int, snr_db: float | None, seed: int) -> tuple[bytes, float]:
    x = np.frombuffer(speech, dtype=np.int16).astype(np.float64)
    level = float(np.sqrt(np.mean(x[np.abs(x) > 300] ** 2)))
    lead = rate  # 1 s of noise first
    y = np.concatenate((np.zeros(lead), x, np.zeros(rate // 2)))
    noise = level / 10 ** (snr_db / 20) if snr_db is not None else 32768 * 10 ** (-62 / 20)
    y = y + np.random.default_rng(seed).standard_normal(len(y)) * noise
    return np.clip(np.round(y), -32768, 32767).astype(np.int16).tobytes(), 1.0 + onset_s(speech, rate)


@pytest.mark.parametrize("rate", [8000])  # the noisy-line voicing is on for narrowband lines only (vad.py)
@pytest.mark.parametrize("snr", [0.0, 5.0])
def test_a_voice_at_0_and_5_db_snr_in_white_noise_is_found(speech: dict, rate: int, snr: float) -> None:
    for seed, who in enumerate(("caller", "bot")):
        pcm, onset = _in_noise(speech[(who, rate)][: rate * 2 * 2], rate, snr, seed)
        got = _confirmations(pcm, rate)
        assert got, f"{who} at {snr} dB SNR not found"
        assert onset - 0.05 <= got[0] <= onset + 0.4, (got, onset)


def test_clean_onsets_are_still_confirmed_in_about_80_ms(speech: dict) -> None:
    for rate in (8000, 16000):
        pcm, onset = _in_noise(speech[("caller", rate)], rate, None, 1)
        got = _confirmations(pcm, rate)
        assert got and 0.04 <= got[0] - onset <= 0.12


@pytest.mark.parametrize("colour", ["white", "pink"])
@pytest.mark.parametrize("level", [-40.0, -30.0, -20.0])
def test_steady_noise_alone_never_confirms(colour: str, level: float) -> None:
    rate = 8000
    rng = np.random.default_rng(int(-level))
    x = rng.standard_normal(rate * 12)
    if colour == "pink":
        spec = np.fft.rfft(x)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1
        x = np.fft.irfft(spec / np.sqrt(f), len(x))
    x = x / np.std(x) * 32768 * 10 ** (level / 20)
    assert _confirmations(np.round(x).astype(np.int16).tobytes(), rate) == []
