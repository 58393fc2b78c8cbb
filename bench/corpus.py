"""Caller audio for the benchmarks: speech with a known onset, and a noise corpus.

Speech: a synthetic voiced signal (harmonics of a wavering pitch under three vowel formants,
with a syllable-rate envelope) whose onset sample is exact; and, where the offline voice is
installed, real synthesised phrases (eSpeak NG) whose onset is found by level.

Noise: everything a phone line carries that is not the caller talking to the bot, and that
must never cut the bot off (no killAudio): coughs (short broadband bursts), clicks and click
trains, door slams, mains hum (50/60 Hz with harmonics), white and pink noise at several
levels, DTMF-like dual tones, a breath. Each item is deterministic (seeded), so two runs
hear the same corpus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RATE = 16000


@dataclass(frozen=True)
class Clip:
    """Mono int16 PCM with a label; `onset_s` is where speech starts (None for noise)."""

    name: str
    pcm: bytes
    rate: int
    onset_s: float | None = None

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / self.rate


def _to_pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16).tobytes()


def _scale_peak(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    peak = float(np.max(np.abs(x))) or 1.0
    return x / peak * 32767 * 10 ** (peak_dbfs / 20)


def _scale_rms(x: np.ndarray, rms_dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x * x))) or 1.0
    return x / rms * 32768 * 10 ** (rms_dbfs / 20)


def _pad(x: np.ndarray, rate: int, before_s: float, after_s: float) -> np.ndarray:
    return np.concatenate((np.zeros(int(rate * before_s)), x, np.zeros(int(rate * after_s))))


# ---- speech -------------------------------------------------------------------------------


def voiced(rate: int, seconds: float, *, f0: float = 130.0, level_dbfs: float = -16.0, seed: int = 0) -> np.ndarray:
    """Vowel-like speech: harmonics of a wavering pitch under formants, 4 syllables a second."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    f = f0 * (1 + 0.04 * np.sin(2 * np.pi * 3.3 * t + seed))
    phase = 2 * np.pi * np.cumsum(f) / rate
    formants = ((650 + 60 * (seed % 3), 120), (1150 + 80 * (seed % 2), 180), (2500, 300))
    x = np.zeros(n)
    for k in range(1, 60):
        fk = k * f0
        if fk > min(rate / 2 * 0.9, 3800):
            break
        gain = sum(math.exp(-(((fk - F) / bw) ** 2)) for F, bw in formants) + 0.03
        x += gain * np.sin(k * phase) / math.sqrt(k)
    syllables = 0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 2.0 * t + seed))  # never silent inside a word
    attack = np.minimum(1.0, t / 0.01)  # 10 ms rise: a real onset, not a click
    return _scale_rms(x * syllables * attack, level_dbfs)


def speech_clip(rate: int = RATE, *, lead_s: float = 0.0, seconds: float = 1.2, seed: int = 0,
                level_dbfs: float = -16.0) -> Clip:
    x = _pad(voiced(rate, seconds, seed=seed, level_dbfs=level_dbfs), rate, lead_s, 0.0)
    return Clip(f"voiced-{seed}", _to_pcm(x), rate, onset_s=lead_s)


def onset_by_level(pcm: bytes, rate: int, threshold_dbfs: float = -40.0, window_ms: float = 5.0) -> float:
    """First instant whose short-window RMS clears `threshold_dbfs` (speech onset of a real clip)."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    w = max(1, int(rate * window_ms / 1000))
    limit = 32768 * 10 ** (threshold_dbfs / 20)
    for i in range(0, len(x) - w, w):
        if math.sqrt(float(np.mean(x[i : i + w] ** 2))) >= limit:
            return i / rate
    return 0.0


# ---- noise --------------------------------------------------------------------------------


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(1000 + seed)


def cough(rate: int, *, peak_dbfs: float, seed: int, ms: float = 260.0) -> np.ndarray:
    """An explosive broadband burst (~40 ms) followed by a noisy, fast-decaying tail."""
    rng = _rng(seed)
    n = int(rate * ms / 1000)
    t = np.arange(n) / rate
    env = np.where(t < 0.04, np.minimum(1.0, t / 0.004), np.exp(-(t - 0.04) / (ms / 1000 / 4)))
    noise = rng.standard_normal(n)
    # a little low-pass colouring, as the chest and a phone band give a cough
    kernel = np.ones(3) / 3
    noise = np.convolve(noise, kernel, mode="same")
    return _scale_peak(noise * env, peak_dbfs)


def clicks(rate: int, *, count: int, interval_ms: float, peak_dbfs: float, seed: int) -> np.ndarray:
    rng = _rng(seed)
    n = int(rate * (count * interval_ms + 20) / 1000)
    x = np.zeros(n)
    for k in range(count):
        i = int(rate * (k * interval_ms + rng.uniform(0, 5)) / 1000)
        width = max(2, int(rate * 0.002))
        x[i : i + width] = rng.standard_normal(width) * np.exp(-np.arange(width) / (width / 3))
    return _scale_peak(x, peak_dbfs)


def door_slam(rate: int, *, peak_dbfs: float, seed: int) -> np.ndarray:
    """A low thump (60-150 Hz, decaying over ~300 ms) with a broadband crack on top."""
    rng = _rng(seed)
    n = int(rate * 0.45)
    t = np.arange(n) / rate
    thump = np.sin(2 * np.pi * (90 - 40 * t) * t) * np.exp(-t / 0.09)
    crack = rng.standard_normal(n) * np.exp(-t / 0.025)
    rattle = rng.standard_normal(n) * 0.15 * np.exp(-t / 0.2)
    return _scale_peak(thump + 0.6 * crack + rattle, peak_dbfs)


def hum(rate: int, *, mains_hz: float, rms_dbfs: float, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = sum(np.sin(2 * np.pi * mains_hz * k * t) / k for k in (1, 2, 3, 5))
    return _scale_rms(np.asarray(x), rms_dbfs)


def white(rate: int, *, rms_dbfs: float, seconds: float, seed: int) -> np.ndarray:
    return _scale_rms(_rng(seed).standard_normal(int(rate * seconds)), rms_dbfs)


def pink(rate: int, *, rms_dbfs: float, seconds: float, seed: int) -> np.ndarray:
    """1/f noise by shaping white noise's spectrum."""
    n = int(rate * seconds)
    spec = np.fft.rfft(_rng(seed).standard_normal(n))
    f = np.arange(len(spec))
    f[0] = 1
    return _scale_rms(np.fft.irfft(spec / np.sqrt(f), n), rms_dbfs)


_DTMF = {"1": (697, 1209), "5": (770, 1336), "9": (852, 1477), "#": (941, 1477), "0": (941, 1336)}


def dtmf(rate: int, digits: str, *, tone_ms: float, gap_ms: float, peak_dbfs: float) -> np.ndarray:
    parts = []
    for d in digits:
        lo, hi = _DTMF[d]
        t = np.arange(int(rate * tone_ms / 1000)) / rate
        parts.append(np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t))
        parts.append(np.zeros(int(rate * gap_ms / 1000)))
    return _scale_peak(np.concatenate(parts), peak_dbfs)


def breath(rate: int, *, peak_dbfs: float, seed: int) -> np.ndarray:
    """A breath: band-limited noise with a slow swell (~500 ms)."""
    n = int(rate * 0.5)
    t = np.arange(n) / rate
    noise = np.convolve(_rng(seed).standard_normal(n), np.ones(8) / 8, mode="same")
    return _scale_peak(noise * np.sin(np.pi * t / t[-1]) ** 2, peak_dbfs)


def noise_corpus(rate: int = RATE, *, lead_s: float = 0.2, tail_s: float = 0.5) -> list[Clip]:
    """The false-trigger corpus: ~40 clips, none of which is speech."""
    items: list[tuple[str, np.ndarray]] = []
    for seed, peak in enumerate((-12.0, -6.0, -1.0)):
        items.append((f"cough {peak:+.0f} dBFS", cough(rate, peak_dbfs=peak, seed=seed)))
        items.append((f"cough long {peak:+.0f} dBFS", cough(rate, peak_dbfs=peak, seed=10 + seed, ms=420)))
        two = np.concatenate((cough(rate, peak_dbfs=peak, seed=20 + seed), np.zeros(int(rate * 0.12)),
                              cough(rate, peak_dbfs=peak - 3, seed=30 + seed)))
        items.append((f"double cough {peak:+.0f} dBFS", two))
    items.append(("click single", clicks(rate, count=1, interval_ms=10, peak_dbfs=-1, seed=1)))
    items.append(("click train 10x/100ms", clicks(rate, count=10, interval_ms=100, peak_dbfs=-3, seed=2)))
    items.append(("typing 12x/60ms", clicks(rate, count=12, interval_ms=60, peak_dbfs=-10, seed=3)))
    for seed, peak in enumerate((-6.0, -1.0)):
        items.append((f"door slam {peak:+.0f} dBFS", door_slam(rate, peak_dbfs=peak, seed=seed)))
    for mains in (50.0, 60.0):
        for level in (-40.0, -30.0, -20.0):
            items.append((f"hum {mains:.0f} Hz {level:+.0f} dBFS", hum(rate, mains_hz=mains, rms_dbfs=level, seconds=1.5)))
    for seed, level in enumerate((-50.0, -40.0, -30.0, -20.0)):
        items.append((f"white noise {level:+.0f} dBFS", white(rate, rms_dbfs=level, seconds=1.5, seed=seed)))
        items.append((f"pink noise {level:+.0f} dBFS", pink(rate, rms_dbfs=level, seconds=1.5, seed=seed)))
    items.append(("DTMF 1-5-9-# 100 ms", dtmf(rate, "159#", tone_ms=100, gap_ms=100, peak_dbfs=-6)))
    items.append(("DTMF 0 70 ms x3", dtmf(rate, "000", tone_ms=70, gap_ms=70, peak_dbfs=-6)))
    items.append(("DTMF 5 held 400 ms", dtmf(rate, "5", tone_ms=400, gap_ms=0, peak_dbfs=-10)))
    for seed, peak in enumerate((-20.0, -10.0)):
        items.append((f"breath {peak:+.0f} dBFS", breath(rate, peak_dbfs=peak, seed=seed)))
    return [Clip(name, _to_pcm(_pad(x, rate, lead_s, tail_s)), rate) for name, x in items]


def with_line_noise(pcm: bytes, rate: int, *, rms_dbfs: float = -62.0, seed: int = 99) -> bytes:
    """Mix a phone line's own hiss under `pcm`: a real line is never digital silence."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    noise = _scale_rms(_rng(seed).standard_normal(len(x)), rms_dbfs) if len(x) else x
    return _to_pcm(x + noise)


def silence_s(rate: int, seconds: float) -> bytes:
    return bytes(int(rate * seconds) * 2)
