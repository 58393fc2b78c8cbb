"""Finding the echo's delay: GCC-PHAT between the uplink and the played reference.

The echo of the bot's voice comes back 20-300 ms late on a phone (plus whatever the
network adds), and that delay changes when the caller moves the phone. An adaptive filter
long enough to cover every possible delay converges slowly; one placed at the right delay
converges in a fraction of a second. So the delay is measured separately, cheaply:

- both signals are decimated to 4 kHz (the delay, not the echo, is wanted here);
- every `every_ms` while the bot is audible, the generalised cross-correlation with phase
  transform (the cross-spectrum whitened to unit magnitude, 300-1800 Hz, so it is not
  dominated by the loudest vowel) of the last 0.6 s of uplink against 1.2 s of reference;
- the whitened cross-spectra are averaged over a few windows, so the peak builds up
  where the echo is consistent and the caller's own speech (uncorrelated with the
  reference) averages out;
- a peak is accepted when it stands `min_quality` times above the correlation's spread,
  and a new delay replaces the current one only when seen twice (one odd window during
  double talk does not move the filter).
"""

from __future__ import annotations

import numpy as np

EST_RATE = 4000
_N_FFT = 8192
_MIC_S = 0.6


class DelayEstimator:
    def __init__(self, rate: int, *, max_delay_ms: float = 600.0, every_ms: float = 200.0, min_quality: float = 7.0,
                 smoothing: float = 0.5) -> None:
        self.rate = rate
        self.decim = max(1, rate // EST_RATE)
        self.max_lag = int(EST_RATE * max_delay_ms / 1000)
        self.mic_len = int(EST_RATE * _MIC_S)
        self.ref_len = self.mic_len + self.max_lag
        # rings (the oldest sample at `_at`), put in order only for an estimate: one write a block
        self._mic = np.zeros(self.mic_len, dtype=np.float32)
        self._ref = np.zeros(self.ref_len, dtype=np.float32)
        self._mic_at = self._ref_at = 0
        self._sums = np.zeros((2, 0), dtype=np.float32)  # this block decimated (sums of `decim` samples)
        self._every = max(1, int(EST_RATE * every_ms / 1000))
        self._since = 0
        self.min_quality = min_quality
        self._alpha = smoothing
        self._cross: np.ndarray | None = None
        freqs = np.fft.rfftfreq(_N_FFT, 1 / EST_RATE)
        self._band = (freqs >= 300) & (freqs <= 1800)
        self.delay: int | None = None  # samples at the stream rate
        self.quality = 0.0
        self._candidate: int | None = None
        self.updates = 0

    @property
    def delay_ms(self) -> float | None:
        return None if self.delay is None else self.delay * 1000 / self.rate

    def _decimate(self, x: np.ndarray, row: int) -> np.ndarray:
        """Sums of `decim` samples (not means: GCC-PHAT is blind to scale, and the energy
        checks allow for it), into a scratch row."""
        d = self.decim
        k = len(x) // d
        if self._sums.shape[1] != k:
            self._sums = np.zeros((2, k), dtype=np.float32)
        return np.add.reduce(x[: k * d].reshape(k, d), axis=1, out=self._sums[row])

    def restart(self) -> None:
        """Forget the signals seen so far (the canceller stopped feeding them a while): the
        next estimates are made from what comes next only."""
        self._mic[:] = 0.0
        self._ref[:] = 0.0
        self._mic_at = self._ref_at = self._since = 0
        self._cross = None
        self._candidate = None

    def forget(self) -> None:
        """No delay known any more (the canceller saw no echo behind it): found afresh, if at all."""
        self.delay = None
        self.quality = 0.0
        self.restart()

    @staticmethod
    def _write(ring: np.ndarray, at: int, x: np.ndarray) -> int:
        k = min(len(x), len(ring))
        x = x[len(x) - k :]
        first = min(k, len(ring) - at)
        ring[at : at + first] = x[:first]
        ring[: k - first] = x[first:]
        return (at + k) % len(ring)

    def push(self, mic: np.ndarray, ref: np.ndarray, audible: bool) -> bool:
        """One block of uplink and of the reference at the same timeline position (no
        delay applied). Returns True when the accepted delay changed."""
        m, r = self._decimate(mic, 0), self._decimate(ref, 1)
        self._mic_at = self._write(self._mic, self._mic_at, m)
        self._ref_at = self._write(self._ref, self._ref_at, r)
        self._since += len(m)
        every = self._every if self.delay is None else 3 * self._every  # found: track it at a third of the cost
        if not audible or self._since < every:
            return False
        self._since = 0
        return self._estimate()

    def _estimate(self) -> bool:
        mic = np.roll(self._mic, -self._mic_at)
        ref = np.roll(self._ref, -self._ref_at)
        recent = ref[-self.mic_len - self.max_lag // 2 :]
        ref_e, mic_e = float(np.dot(recent, recent)), float(np.dot(mic, mic))
        scale = self.decim * self.decim  # (sums, not means, of `decim` samples)
        if ref_e < 1e3 * scale * self.ref_len or mic_e < 1e2 * scale * self.mic_len:
            return False  # the bot was (nearly) silent or the uplink is digital silence
        M = np.fft.rfft(mic, _N_FFT)
        R = np.fft.rfft(ref, _N_FFT)
        cross = np.conj(M) * R
        mag = np.abs(cross)
        cross = np.where(self._band, cross / (mag + 1e-9), 0.0).astype(np.complex64)  # (memory: 32 KiB a call)
        self._cross = cross if self._cross is None else self._alpha * self._cross + (1 - self._alpha) * cross
        c = np.fft.irfft(self._cross, _N_FFT)[: self.max_lag + 1]
        # c[L] pairs mic[k] with ref[k + L]; the reference window starts max_lag earlier,
        # so lag L means the echo is max_lag - L samples late
        peak = int(np.argmax(c))
        spread = float(np.std(c)) + 1e-12
        self.quality = float(c[peak]) / spread
        if self.quality < self.min_quality:
            return False
        delay = (self.max_lag - peak) * self.decim
        tol = 2 * self.decim
        if self.delay is not None and abs(delay - self.delay) <= tol:
            self._candidate = None
            return False
        if self.delay is None and self.quality >= 2 * self.min_quality:
            return self._accept(delay)
        if self._candidate is not None and abs(delay - self._candidate) <= tol:
            return self._accept(delay)
        self._candidate = delay
        return False

    def _accept(self, delay: int) -> bool:
        self.delay = delay
        self._candidate = None
        self.updates += 1
        return True
