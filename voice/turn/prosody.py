"""The sound side of turn-taking: the melody and timing of the caller's last words.

Speakers mark the end of a turn in how they say the last words: pitch falls to the
bottom of their range and the last syllable is drawn out ("final lengthening"), while
a caller who is not done keeps the pitch level or rising (continuation rise) and
stops short. `PitchTracker` follows the fundamental frequency of 20 ms frames; the
features it returns at a pause describe the last ~300 ms of voiced speech relative
to the caller's own range in this turn, so a low voice and a high one read the same.

Method: the audio is taken at 8 kHz (the phone band: the same numbers for an 8 kHz
mu-law call and a 16 kHz one), and each speech frame's pitch is the peak of the
normalised autocorrelation of a 40 ms window at lags for 60-400 Hz, refined by a
parabola, kept only when the peak is clearly periodic. Octave jumps (the commonest
pitch-tracker error) are folded back towards the running median. About 20 us a frame.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz
_LAG_LO, _LAG_HI = 20, 134  # 400 Hz .. 60 Hz
_VOICING = 0.5
_HISTORY = 400  # frames (8 s) kept for one turn
_TAIL_S = 0.3  # the "last words": this much voiced speech before the pause


@dataclass(frozen=True, slots=True)
class ProsodyCue:
    """Features of the speech before a pause (all 0 when there was too little voicing).

    `slope`: pitch movement over the last voiced ~300 ms, semitones per second (falling < 0).
    `level`: pitch of the last voiced ~100 ms against the turn's median, semitones.
    `lengthening`: the last voiced run's duration over the turn's median run (drawn out > 1).
    `energy`: loudness of the last 100 ms of speech against the turn's median speech, dB.
    `voiced`: voiced frames seen in the turn (how much the other numbers can be trusted).
    """

    slope: float = 0.0
    level: float = 0.0
    lengthening: float = 1.0
    energy: float = 0.0
    voiced: int = 0


@dataclass(slots=True)
class _Frame:
    end: float
    speech: bool
    f0: float  # Hz, 0 when unvoiced
    level: float  # dBFS


class PitchTracker:
    """Per-turn pitch and loudness of 20 ms frames at 8 kHz; `cue()` at a pause."""

    def __init__(self) -> None:
        self._frames: deque[_Frame] = deque(maxlen=_HISTORY)
        self._prev = np.zeros(FRAME, dtype=np.float32)
        self._recent_f0: deque[float] = deque(maxlen=25)

    def reset(self) -> None:
        self._frames.clear()
        self._recent_f0.clear()

    def push(self, frame: np.ndarray, *, speech: bool, end: float) -> None:
        """One 20 ms frame (float32, 160 samples at 8 kHz) that ends at `end` (audio seconds)."""
        energy = float(np.dot(frame, frame)) / len(frame)
        level = 10 * math.log10(energy / 1073741824.0) if energy > 1.0 else -120.0
        f0 = self._pitch(np.concatenate((self._prev, frame))) if speech else 0.0
        self._prev = frame
        self._frames.append(_Frame(end, speech, f0, level))

    def _pitch(self, x: np.ndarray) -> float:
        x = x - float(x.mean())
        n = len(x)
        spec = np.fft.rfft(x, 512)
        ac = np.fft.irfft(spec.real * spec.real + spec.imag * spec.imag, 512)[:n]
        if ac[0] <= 1e-3:
            return 0.0
        lags = np.arange(_LAG_LO, _LAG_HI)
        r = ac[_LAG_LO:_LAG_HI] / ac[0] * n / (n - lags)
        k = int(np.argmax(r))
        if r[k] < _VOICING:
            return 0.0
        if 0 < k < len(r) - 1:  # parabolic refinement of the peak
            a, b, c = r[k - 1], r[k], r[k + 1]
            denom = a - 2 * b + c
            shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
        else:
            shift = 0.0
        f0 = RATE / (_LAG_LO + k + shift)
        if len(self._recent_f0) >= 5:  # fold octave errors back towards the running median
            med = float(np.median(self._recent_f0))
            for factor in (2.0, 0.5):
                if abs(math.log2(f0 * factor / med)) < abs(math.log2(f0 / med)) - 0.5:
                    f0 *= factor
        self._recent_f0.append(f0)
        return f0

    def cue(self) -> ProsodyCue:
        """Features of the speech before the current pause."""
        speech = [f for f in self._frames if f.speech]
        voiced = [f for f in speech if f.f0 > 0]
        if len(voiced) < 4:
            return ProsodyCue(voiced=len(voiced))
        semis = np.array([12 * math.log2(f.f0) for f in voiced])
        times = np.array([f.end for f in voiced])
        median = float(np.median(semis))
        last_t = times[-1]
        tail = times >= last_t - _TAIL_S
        if tail.sum() >= 3:
            t, s = times[tail], semis[tail]
            tc = t - t.mean()
            slope = float(np.dot(tc, s - s.mean()) / max(1e-6, float(np.dot(tc, tc))))
        else:
            slope = 0.0
        end = times >= last_t - 0.1
        level = float(np.median(semis[end])) - median
        runs = self._voiced_runs()
        lengthening = runs[-1] / float(np.median(runs)) if len(runs) >= 3 else 1.0
        levels = np.array([f.level for f in speech])
        speech_end = speech[-1].end
        last_levels = np.array([f.level for f in speech if f.end >= speech_end - 0.1])
        energy = float(np.mean(last_levels)) - float(np.median(levels))
        return ProsodyCue(
            slope=max(-60.0, min(60.0, slope)), level=max(-12.0, min(12.0, level)),
            lengthening=max(0.5, min(2.0, lengthening)), energy=max(-30.0, min(30.0, energy)),
            voiced=len(voiced),
        )

    def _voiced_runs(self) -> list[float]:
        """Durations (s) of runs of consecutive voiced frames (syllable nuclei, roughly)."""
        runs: list[float] = []
        current = 0
        for f in self._frames:
            if f.f0 > 0:
                current += 1
            elif current:
                runs.append(current * FRAME / RATE)
                current = 0
        if current:
            runs.append(current * FRAME / RATE)
        return runs
