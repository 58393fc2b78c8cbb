"""Echo cancellation on the uplink, with the bot's own playback as the reference.

Pipeline per 20 ms block (before the VAD and the STT see the caller's audio):

1. Alignment. `FarEnd` holds what the caller's speaker played on the call's timeline;
   `UplinkClock` maps uplink samples onto it (jitter-proof: by sample count, see there).
2. Delay. `DelayEstimator` (GCC-PHAT at 4 kHz) finds where the echo sits, and tracks it;
   the adaptive filter is placed there (`PRE_MS` early), and moved when it moves.
3. Linear cancellation: a partitioned-block frequency-domain NLMS filter (MDF: block = one
   20 ms frame, `PARTITIONS` of them, so an 80 ms echo tail after the delay), in two
   copies (Ochiai's two-path scheme): a background filter that always adapts, and the
   foreground filter that cancels, which takes the background's coefficients only when
   they do clearly better. Double talk (the caller over the bot) drives the background's
   error up, so the foreground is never spoilt by it: that is the double-talk detector,
   and it needs no threshold on the caller's level.
4. Residual echo suppression: G.711, the band limit and a moving phone leave a residue a
   linear filter cannot remove. On the spectrum of the last two blocks each bin is
   attenuated where the residual echo estimate explains the error: the filter's leakage
   times its echo estimate, and the reference's power in the filter's span times the echo
   path's coupling (learnt per bin as an upper envelope from blocks the filters explain;
   capped by, and before the delay is known replaced by, 4x its long-term average over
   every plausible delay; the worst case until the reference has sounded that long).
   While the filter is not trusted (not converged, or the path moved: the error then
   holds the old estimate with its sign flipped) any plausible delay may hold the echo.
   Never below the line's own noise floor, so the background does not pump and the VAD's
   noise tracking stays true. The gains are applied to the current
   block by overlap-save: no added latency.

What is left is speech the echo does not explain. With nothing played for `idle_after_s`,
the canceller is bypassed (the input as it is): a caller talking alone costs nothing.

A line with no measurable echo is only watched. When the bot's playback has been loud for
a while with the uplink at the line's own noise floor (a path the delay estimator found, but
along which nothing was ever cancelled, is then forgotten as spurious), the filters, the suppressor and the delay
estimator stop (the input passes as it is) and only a level check runs: a few microseconds a
block. Before that, while no path is known, blocks at the floor skip the filters and the
suppressor (`_skip`). The canceller wakes, its
reference history re-read from the timeline and its delay estimator started afresh, on the
first block 3 dB above the floor while the bot is audible (an echo that loud or louder
appears, or the caller talks). 3 dB is well under the VAD's 9 dB over the noise: an echo
that could pass the VAD's energy gate always wakes it, and one the level check cannot see
is under the noise for the VAD and the recogniser too.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from voice.echo.delay import DelayEstimator
from voice.echo.farend import FarEnd, UplinkClock

BLOCK_MS = 20
PARTITIONS = 4
PRE_MS = 20.0  # the filter starts this much before the measured delay...
SLACK_MS = (5.0, 40.0)  # ...and moves only when the delay leaves [start + 5, start + 40] ms
MAX_DELAY_MS = 400.0  # echo 20-300 ms plus what the network adds
MU = 0.5
COUPLING_BOUND = 1.0  # worst echo power / reference power before the path is learnt (0 dB: a 6 dB
# echo loss, with 6 dB for the peaks of the loudspeaker-room response)
OVER_SUBTRACT = 2.0
COUPLING_RELEASE = 10 ** (-0.25 / 10)  # the coupling envelope falls 0.25 dB a block (12.5 dB/s)
CONVERGED_DB = 6.0  # ERLE (above the line's noise) from which the linear filter is trusted
WIDE_RELEASE = 10 ** (-0.1 / 10)  # the any-delay envelope is the fallback: it falls 5 dB/s
WIDE_MARGIN = 2.0  # and gets 3 dB of headroom
GAMMA_MIN = 0.05  # once converged, the coupling bound is scaled by the filter's leakage, not below this
SMOOTH_BINS = 7  # powers are smoothed over 7 bins before they are compared
DOUBLE_TALK_MAX_BLOCKS = 15  # 300 ms
RESTART_QUIET_BLOCKS = 5  # 100 ms without reference: a new stretch of playback
NOISE_BIAS = 2.0  # a tracked minimum of smoothed power sits ~3 dB under the noise's mean
NOISE_CREEP = 10 ** (1.0 / 10 / 50)  # noise floor estimate may rise 1 dB a second
# A line with no measurable echo (many handsets, and every headset) is only watched:
WATCH_AFTER_BLOCKS = 75  # 1.5 s of the bot's playback (and its echo's tail) with the uplink at its floor...
WATCH_LOUD_BLOCKS = 15  # ...0.3 s of it with the reference loud, and no delay found: watch only
WATCH_RISE = 2.0  # an uplink block 3 dB above the floor while the bot is audible wakes the canceller
QUIET_SKIP_AFTER_BLOCKS = 10  # with no path found, 0.2 s at the floor and the filters rest (`_skip`)
LOUD_REFERENCE = (32768 * 10 ** (-40 / 20)) ** 2  # mean square of a -40 dBFS block


def _zeros(shape: int | tuple[int, ...], dtype: type[np.generic]) -> np.ndarray:
    """A preallocated buffer (float32 / complex64; typed loosely: numpy's stubs say the FFTs'
    `out=` takes 64-bit arrays only, where numpy 2 computes in single precision too)."""
    return np.zeros(shape, dtype=dtype)


class _Scratch:
    """A block's temporaries (nothing in them outlives the block that wrote them), made once
    per block size and thread: every call's canceller runs on the thread of the event loop
    that made it, one block at a time, so they share them (~85 KiB a call at 16 kHz).
    `zeros` and the smoothing buffer's pads are only ever read."""

    def __init__(self, n: int, partitions: int) -> None:
        bins = n + 1
        self.spec = _zeros((4, bins), np.complex64)  # the gradient's, the error's, the echo estimate's, the uplink's
        self.pow = _zeros((3, bins), np.float32)  # |E|^2, |Y|^2, |D|^2
        # the suppressor's work rows: smoothed uplink power, reference power in the filter's span,
        # at every plausible delay, newest reference power, uplink power above its floor
        self.work = _zeros((5, bins), np.float32)
        self.zin = _zeros((4, bins + SMOOTH_BINS - 1), np.float32)
        self.zsums = _zeros((4, bins + SMOOTH_BINS - 2), np.float32)
        self.bounds = _zeros((2, bins), np.float32)
        self.residual = _zeros(bins, np.float32)
        self.inv = _zeros(bins, np.float32)
        self.gain = _zeros(bins, np.float32)
        self.tmp = _zeros(bins, np.float32)
        self.tmp2 = _zeros((2, bins), np.float32)
        self.ratio = _zeros((2, bins), np.float32)
        self.mask = np.zeros(bins, dtype=bool)
        self.live = np.zeros((2, bins), dtype=bool)
        self.up = np.zeros((2, bins), dtype=bool)
        self.up2 = np.zeros((2, bins), dtype=bool)
        self.d = _zeros(n, np.float32)
        self.out = _zeros(n, np.float32)
        self.pcm = np.zeros(n, dtype=np.int16)
        self.Y2 = _zeros((2, 2 * n), np.float32)  # both filters' outputs
        self.prod = _zeros((2, partitions, bins), np.complex64)  # both filters' products, the gradient
        self.acc = _zeros((2, bins), np.complex64)
        self.XR0 = _zeros((2, bins), np.complex64)  # the spectra of `_xbuf` and `_r0buf`
        self.w = _zeros(2 * n, np.float32)
        self.zeros = _zeros(n, np.float32)


_THREAD = threading.local()


def _scratch(n: int, partitions: int) -> _Scratch:
    made: dict[tuple[int, int], _Scratch] | None = getattr(_THREAD, "scratch", None)
    if made is None:
        made = _THREAD.scratch = {}
    key = (n, partitions)
    if key not in made:
        made[key] = _Scratch(n, partitions)
    return made[key]


@dataclass(frozen=True, slots=True)
class EchoStats:
    delay_ms: float | None
    erle_db: float
    converged: bool
    double_talk: bool
    active: bool
    watching: bool = False  # no measurable echo on the line: only watched (see the module doc)


class EchoCanceller:
    """One per call. `play`/`cut` from the send side, `process` on every uplink frame."""

    def __init__(self, rate: int, origin: float, *, partitions: int = PARTITIONS, idle_after_s: float = 1.0,
                 clock: UplinkClock | None = None, lead_s: float = 0.8) -> None:
        self.rate = rate
        n = self.block = rate * BLOCK_MS // 1000
        self.latency_s = 0.0  # overlap-save: the cleaned block is the block just received
        # the reference is written up to `lead_s` ahead (the Speaker's pacing) and read up to the
        # longest delay behind: the ring holds that and a second more (int16: 32 KiB/s at 16 kHz)
        self.far = FarEnd(rate, origin, seconds=lead_s + MAX_DELAY_MS / 1000 + 1.0)
        self.clock = clock or UplinkClock(rate, origin)  # shared with the caller's timing when given
        self.delay = DelayEstimator(rate, max_delay_ms=MAX_DELAY_MS)
        self.m = partitions
        bins = n + 1
        # float32 / complex64 throughout (int16 audio: 24 bits of mantissa are plenty, and the
        # NLMS step is normalised by the reference's power). Every per-block array is made here
        # once; the hot path writes into them.
        # The reference's partitions in a ring (row `_xh` is the newest, the next rows older,
        # wrapping): nothing is shifted; `_Xpow` is |X|^2 of the same rows.
        self._Xring = _zeros((partitions, bins), np.complex64)
        self._Xpow = _zeros((partitions, bins), np.float32)
        self._xh = 0
        # both filters in one array (foreground 0, background 1): one product, one inverse FFT
        self._W = _zeros((2, partitions, bins), np.complex64)
        self._P = np.full(bins, 1.0, dtype=np.float32)
        self._xr = _zeros((2, 2 * n), np.float32)  # both transformed in one call:
        self._xbuf = self._xr[0]  # [previous | this] reference block at the filter's lag
        self._r0buf = self._xr[1]  # the same at lag 0
        # [zeros | background error] (the gradient's input), [previous | this] error, and echo
        # estimate: one transform (`_spec` rows 0-2; row 3 is the uplink's, their sum)
        self._rows = _zeros((3, 2 * n), np.float32)
        # what a block computes and drops: shared by every canceller of the same size
        sc = _scratch(n, partitions)
        self._spec, self._pow, self._work, self._zin, self._zsums = sc.spec, sc.pow, sc.work, sc.zin, sc.zsums
        self._bounds, self._residual, self._inv, self._gain, self._tmp = sc.bounds, sc.residual, sc.inv, sc.gain, sc.tmp
        self._tmp2, self._ratio, self._mask, self._live, self._up, self._up2 = (sc.tmp2, sc.ratio, sc.mask, sc.live,
                                                                                 sc.up, sc.up2)
        self._d, self._out, self._pcm, self._Y2, self._prod, self._acc = sc.d, sc.out, sc.pcm, sc.Y2, sc.prod, sc.acc
        self._XR0, self._w, self._zeros = sc.XR0, sc.w, sc.zeros
        self._bins = bins
        self._pad = SMOOTH_BINS // 2  # [3 zeros | bins | 3 zeros]: a box sum by doubling (pairs, fours, then 7)
        self._release = np.array([[COUPLING_RELEASE], [WIDE_RELEASE]], dtype=np.float32)
        self._start = 0  # the filter covers timeline positions [pos - start - tail, pos - start]
        self._pre = int(rate * PRE_MS / 1000)
        self._slack = (int(rate * SLACK_MS[0] / 1000), int(rate * SLACK_MS[1] / 1000))
        self._max_delay = int(rate * MAX_DELAY_MS / 1000)
        self._idle = int(rate * idle_after_s)
        self._pend = bytearray()
        self._pos = 0  # uplink samples consumed into blocks
        self._sounded = 0  # blocks since the reference began to sound (an echo of it may be on its way)
        self._averaged = 0  # blocks the long-term coupling average took in since then
        self._coupling_learnt = False  # the ceiling was computed from the line at least once
        self._c_unlocked = np.full(bins, COUPLING_BOUND, dtype=np.float32)
        self._delay_blocks = int(MAX_DELAY_MS / BLOCK_MS) + 1
        self._avg = _zeros((2, bins), np.float32)  # the reference's power and the uplink's above its floor
        self._noise = np.full(bins, -1.0, dtype=np.float32)
        # reference power at the filter's lag: only its newest row and its filter's span are read
        self._ref_hist = _zeros((partitions + 1, bins), np.float32)
        # at lag 0, every plausible delay: only its maximum is read, so a ring in any order
        self._wide = _zeros((self._max_delay // n + PARTITIONS + 2, bins), np.float32)
        self._wide_at = 0
        self._sf = self._sb = self._sd = 1.0
        self._better = 0
        self._leak = 1.0
        self._dt_blocks = 0
        self._quiet_blocks = 0
        self._moved = 0.0  # smoothed correlation of the error with the echo estimate
        self._path_moved = False
        # echo / reference power: in the filter's span (row 0), and over every plausible delay (row 1)
        self._C2 = np.full((2, bins), COUPLING_BOUND, dtype=np.float32)
        self.erle_db = 0.0
        self.converged = False
        self.double_talk = False
        self.active = False
        self.blocks = 0
        self.active_blocks = 0
        self.full_blocks = 0  # blocks the filters and the suppressor ran on
        self.watching = False
        self.wakes = 0
        self.paths_forgotten = 0  # spurious delays dropped: never cancelled along, no echo for 1.5 s of playback
        self._ever_converged = False  # the filter has cancelled an echo along the path it found
        self._floor = -1.0  # the uplink's noise floor: mean square per sample of its quietest blocks
        self._clear_blocks = 0  # consecutive blocks of playback with the uplink at its floor
        self._loud_blocks = 0  # loud reference blocks whose every plausible echo came back clear
        self._loud_bits = 0  # the last `_delay_blocks` blocks' "reference loud", newest in bit 0
        self._stale = False  # the filters' reference history was not kept up (watching or skipping)

    # ---- send side ----

    def play(self, pcm: bytes, start: float) -> None:
        self.far.play(pcm, start)

    def cut(self, at: float) -> None:
        self.far.cut(at)

    # ---- uplink ----

    def process(self, pcm: bytes) -> bytes:
        """Uplink audio in (any size); cleaned audio out, whole blocks only, one block late.
        Call `arrived` first with the frame's arrival time (unless the clock is shared and
        its owner does)."""
        bb = 2 * self.block
        d = self._d
        if not self._pend and len(pcm) == bb:
            # the usual frame, one whole block with nothing held back: no buffering, no copies
            d[:] = np.frombuffer(pcm, dtype=np.int16)
            cleaned = self._block(d)
            return pcm if cleaned is None else self._to_pcm(cleaned)
        self._pend += pcm[: len(pcm) - len(pcm) % 2]
        out = bytearray()
        while len(self._pend) >= bb:
            d[:] = np.frombuffer(self._pend, dtype=np.int16, count=self.block)
            cleaned = self._block(d)
            out += self._pend[:bb] if cleaned is None else self._to_pcm(cleaned)  # None: the input as it is
            del self._pend[:bb]
        return bytes(out)

    def _to_pcm(self, cleaned: np.ndarray) -> bytes:
        y = np.round(cleaned, out=self._out)
        np.minimum(np.maximum(y, -32768, out=y), 32767, out=y)
        y16 = self._pcm
        y16[:] = y
        return y16.tobytes()

    def arrived(self, samples: int, now: float) -> None:
        self.clock.arrived(samples, now)

    @property
    def pending_s(self) -> float:
        """Uplink audio held back until a whole block is in."""
        return len(self._pend) / 2 / self.rate

    def stats(self) -> EchoStats:
        return EchoStats(self.delay.delay_ms, round(self.erle_db, 1), self.converged, self.double_talk, self.active,
                         self.watching)

    # ---- one block ----

    def _block(self, d: np.ndarray) -> np.ndarray | None:
        """One block cleaned, or None when it is to pass as it is."""
        n = self.block
        pos = self.clock.offset + self._pos  # timeline index of this block's first sample
        self._pos += n
        self.blocks += 1
        lookback = self._max_delay + self.m * n
        dd = float(np.dot(d, d))
        energy = dd / n
        self._track_floor(energy)
        audible = self.far.sounding(pos - lookback, pos + n)
        if not audible and not self.far.sounding(pos - lookback - self._idle, pos + n):
            self._bypass(d)
            return None
        self.active_blocks += 1
        self.active = True
        risen = audible and energy > WATCH_RISE * self._floor
        if self.watching:
            if not risen:
                self._sounded += 1
                self._watch(d)
                return None
            self._wake(pos)
        ref0 = self._track_delay(d, pos, audible)
        self._watch_or_not(risen, ref0)
        if self.delay.delay is None and self._clear_blocks >= QUIET_SKIP_AFTER_BLOCKS and self._coupling_learnt:
            # No path found, the uplink at its floor for a while, and the line's coupling measured:
            # nothing to cancel, nothing to learn from (see `_skip`). The delay estimator still listens.
            self._sounded += 1
            self._skip(d)
            return None
        if self._stale:
            self._resume(pos)
        return self._cancel(d, pos, ref0, dd)

    def _track_delay(self, d: np.ndarray, pos: int, audible: bool) -> np.ndarray:
        """The delay estimate on the unaligned reference (the filter placed where it says);
        returns this block of the reference at lag 0."""
        n = self.block
        r0 = self._r0buf
        r0[:n] = r0[n:]  # (the previous block at lag 0)
        ref0 = self.far.read(pos, n, out=r0[n:])
        if self.delay.push(d, ref0, audible) and self.delay.delay is not None:
            lag = self.delay.delay - self._start
            if self.delay.updates == 1:  # first lock: start from what the averages showed
                self._C2[:] = self._c_unlocked  # pessimistic (4x the average); it decays
            if self.delay.updates == 1 or not self._slack[0] <= lag <= self._slack[1]:
                self._place(max(0, self.delay.delay - self._pre), pos)
        return ref0

    def _cancel(self, d: np.ndarray, pos: int, ref0: np.ndarray, dd: float) -> np.ndarray:
        """The filters and the suppressor on one block."""
        n = self.block
        self.full_blocks += 1
        # the reference block the filter sees, and its partition history
        xb = self._xbuf
        xb[:n] = xb[n:]
        x_new = xb[n:]
        if self._start == 0:
            x_new[:] = ref0  # the filter sits at lag 0: the same samples
        else:
            self.far.read(pos - self._start, n, out=x_new)
        if x_new.any():
            if self._quiet_blocks >= RESTART_QUIET_BLOCKS:
                # the bot starts talking again after a pause: its playback may start a frame
                # later or earlier at the caller than last time (the Stream Node plays in 20 ms
                # packets), so the filter has to prove itself again before it is trusted
                self.converged = False
                self.erle_db = min(self.erle_db, 0.0)
                self._path_moved = True  # any plausible delay may hold it until the filter re-learns
            self._quiet_blocks = 0
        else:
            self._quiet_blocks += 1
        at_zero = self.delay.delay is None  # the filter sits at lag 0: one history serves both
        if at_zero:
            X0 = np.fft.rfft(xb, out=self._XR0[0])
        else:
            X0, R0 = np.fft.rfft(self._xr, axis=1, out=self._XR0)
        xpow = self._push_partition(X0)
        self._ref_hist[1:] = self._ref_hist[:-1]
        self._ref_hist[0] = xpow
        self._wide_at = (self._wide_at + 1) % len(self._wide)
        wide_row = self._wide[self._wide_at]
        if at_zero:
            wide_row[:] = xpow
        else:
            np.multiply(R0.real, R0.real, out=wide_row)
            wide_row += R0.imag * R0.imag
        if not self._ref_hist[:, 1:].any():  # nothing in the filter's span
            self._spectra(self._zeros, d, self._zeros)
            return self._suppress(d, self._zeros)
        # foreground (cancels) and background (learns), in one product and one inverse FFT
        k = self.m - self._xh  # X newest first: the ring in two runs
        prod = self._prod
        np.multiply(self._W[:, :k], self._Xring[self._xh :], out=prod[:, :k])
        np.multiply(self._W[:, k:], self._Xring[: self._xh], out=prod[:, k:])
        prod.sum(axis=1, out=self._acc)
        Y2 = np.fft.irfft(self._acc, axis=1, out=self._Y2)
        yf, yb = Y2[0, n:], Y2[1, n:]
        ef, eb = d - yf, d - yb
        ee_f, ee_b = float(np.dot(ef, ef)), float(np.dot(eb, eb))
        copy, keep_fg, drop_fg = self._two_path(dd, ee_f, ee_b)
        ee = ee_f
        if copy:
            ef, yf, ee = eb, yb, ee_b
            if self._path_moved:  # a re-learnt filter: its leakage and ERLE are to be measured anew
                self._path_moved = False
                self._leak, self.erle_db, self.converged = 1.0, 0.0, False
        yy = float(np.dot(yf, yf))
        # a moved echo path leaves the old estimate in the error with its sign flipped (e = d - y
        # holds -y); the caller talking over the bot is just uncorrelated with y
        if yy > 1e2 * n and ee < 4 * yy:  # (a caller much louder than the estimate says nothing)
            rho = float(np.dot(ef, yf)) / (math.sqrt(ee * yy) + 1e-9)
            self._moved = 0.6 * self._moved + 0.4 * rho
            if self._moved < -0.5:
                self._path_moved = True  # until the filter has re-learnt or been moved
        if ee > dd:  # the filter now adds echo: leave it out
            ef, yf = d, self._zeros
        self._spectra(eb, ef, yf)  # the gradient's and the suppressor's transforms in one call
        self._adapt()
        if copy:  # (after the background learnt from this block, as it is what is copied)
            self._W[0] = self._W[1]
        if keep_fg:
            self._W[1] = self._W[0]
        if drop_fg:
            self._W[0] = 0.0
        return self._suppress(ef, yf)

    def _push_partition(self, X0: np.ndarray) -> np.ndarray:
        """The newest partition in front, the oldest out; returns its power |X0|^2."""
        m = self.m
        h = self._xh = (self._xh - 1) % m
        self._Xring[h] = X0
        p = self._Xpow[h]
        np.multiply(X0.real, X0.real, out=p)
        p += X0.imag * X0.imag
        return p

    def _spectra(self, eb: np.ndarray, e: np.ndarray, y: np.ndarray) -> None:
        """One transform of three rows: [zeros | background error] (the gradient), and
        [previous | this] of the error and of the echo estimate (the suppressor)."""
        n = self.block
        rows = self._rows
        rows[0, n:] = eb
        rows[1, n:] = e
        rows[2, n:] = y
        np.fft.rfft(rows, axis=1, out=self._spec[:3])
        rows[1:, :n] = rows[1:, n:]

    def _adapt(self) -> None:
        n = self.block
        P, tmp = self._P, self._tmp
        P *= 0.7
        np.add.reduce(self._Xpow, axis=0, out=tmp)
        tmp *= 0.3
        P += tmp
        if float(np.add.reduce(P)) < 1e3 * n * len(P):  # reference (nearly) silent: nothing to learn from
            return
        G = self._spec[0]
        np.add(P, 1e4 * n, out=tmp)
        np.divide(MU, tmp, out=tmp)
        G *= tmp
        Wb, grad = self._W[1], self._prod[0]
        k = self.m - self._xh  # conj(X) G, X newest first
        np.conjugate(self._Xring[self._xh :], out=grad[:k])
        np.conjugate(self._Xring[: self._xh], out=grad[k:])
        grad *= G
        Wb += grad
        # the gradient constraint (keep each partition causal, N taps), one partition per
        # block in turn as MDF does: all of them every block costs 2 FFTs a partition
        j = self.blocks % self.m
        w = np.fft.irfft(Wb[j], out=self._w)
        w[n:] = 0.0
        np.fft.rfft(w, out=Wb[j])

    def _two_path(self, dd: float, ee_f: float, ee_b: float) -> tuple[bool, bool, bool]:
        """Keep the better filter in front. Returns what to do with the filters once the
        background has learnt from this block: (copy it to the front, reset it to the
        front (it diverged in double talk), clear the front (the path changed under it))."""
        a = 0.6
        self._sd = a * self._sd + (1 - a) * dd
        self._sf = a * self._sf + (1 - a) * ee_f
        self._sb = a * self._sb + (1 - a) * ee_b
        copied = diverged = spoilt = False
        if self._sb < 0.5 * self._sf and self._sb < 0.7 * self._sd:
            self._better += 1
            if self._better >= 2:
                self._sf = self._sb
                self._better = 0
                copied = True
        else:
            self._better = 0
        if self._sb > 4 * self._sd and self._sb > 4 * self._sf:  # the background diverged (double talk)
            self._sb = self._sf
            diverged = True
        if self._sf > 2 * self._sd:  # the echo path changed under the foreground: it makes things worse
            self._sf = self._sd
            spoilt = True
        return copied, diverged, spoilt

    # ---- a line with no measurable echo ----

    def _track_floor(self, energy: float) -> None:
        if self._floor < 0:
            self._floor = max(energy, 1.0)
        else:
            self._floor = min(self._floor * NOISE_CREEP, max(energy, 1.0))

    def _watch_or_not(self, risen: bool, ref0: np.ndarray) -> None:
        """Count the blocks that show no echo; enough of them in a row and the line is only watched.
        A loud block of the reference counts once the longest delay has passed after it with the
        uplink at its floor all along (its echo would have shown by then)."""
        if risen:
            self._clear_blocks = self._loud_blocks = self._loud_bits = 0
            return
        self._clear_blocks += 1
        span = self._delay_blocks
        self._loud_blocks += (self._loud_bits >> (span - 1)) & 1
        loud = float(np.dot(ref0, ref0)) > LOUD_REFERENCE * self.block
        self._loud_bits = ((self._loud_bits << 1) | loud) & ((1 << span) - 1)
        if self._clear_blocks >= WATCH_AFTER_BLOCKS and self._loud_blocks >= WATCH_LOUD_BLOCKS:
            if self.delay.delay is not None:
                if self._ever_converged:
                    return  # a real path (the filter once cancelled along it): a muted phone comes back
                # A path was found, yet nothing was ever cancelled along it and the bot's loud
                # playback has come back as nothing for 1.5 s: the lock was spurious (the
                # caller's voice happened to correlate with the bot's during double talk). Kept,
                # it ran the full canceller on every block for the rest of the call.
                self._forget_path()
            self.watching = True
            self._stale = True

    def _forget_path(self) -> None:
        """Back to no known echo path: the filters cleared at lag 0, the estimator afresh."""
        self.delay.forget()
        self._W[:] = 0.0
        self._start = 0
        self.converged, self.erle_db, self._path_moved = False, 0.0, False
        self._C2[:] = COUPLING_BOUND
        self.paths_forgotten += 1

    def _watch(self, d: np.ndarray) -> None:
        """Nothing to cancel: the input as it is (the next block's overlap is this one)."""
        n = self.block
        self._rows[1, :n] = d
        self._rows[2, :n] = 0.0
        self._quiet_blocks = 0

    def _skip(self, d: np.ndarray) -> None:
        """A block passed as it is while no echo path is known and the uplink has been at its
        floor for `QUIET_SKIP_AFTER_BLOCKS`: the same argument as watching (an echo under 3 dB
        above the floor is under the VAD's 9 dB gate and the recogniser's hearing), taken once
        the long-term coupling ceiling has been measured (~0.7 s into the first playback)
        instead of after 1.5 s of playback. Before the ceiling is measured the suppressor
        assumes the worst at every delay, and a caller talking over the bot then was suppressed
        into words the recogniser missed. The filters' reference history goes stale; `_resume`
        re-reads it when a block rises."""
        self._watch(d)
        self._stale = True

    def _resume(self, pos: int) -> None:
        """The filters' and the suppressor's reference history re-read from the timeline
        (after watching or skipping, nothing kept it): the partitions at the filter's lag,
        and every plausible delay's power at lag 0, from the blocks before this one."""
        self._stale = False
        self._reload(pos)
        n = self.block
        rows = len(self._wide)
        # every plausible delay's reference power at lag 0, from the blocks before this one
        past = np.stack([self.far.read(pos - (j + 2) * n, 2 * n) for j in range(rows)]).astype(np.float32)
        R = np.fft.rfft(past, axis=1)
        self._wide[:] = R.real * R.real + R.imag * R.imag
        self._P[:] = self._Xpow.sum(axis=0)

    def _wake(self, pos: int) -> None:
        """Back from watching: the delay estimator started afresh (and the history re-read)."""
        self.watching = False
        self.wakes += 1
        self.delay.restart()
        self._clear_blocks = self._loud_blocks = self._loud_bits = 0
        n = self.block
        self.far.read(pos - n, n, out=self._r0buf[n:])  # (the previous block at lag 0)
        self._stale = True

    def _reload(self, pos: int) -> None:
        """The reference's partitions and power history, re-read at the filter's lag (the
        block at `pos` is added after)."""
        n, m, start = self.block, self.m, self._start
        past = [self.far.read(pos - start - j * n, n) for j in range(m + 1, 0, -1)]
        for row in range(m):
            k = (self._xh + row) % m
            X = np.fft.rfft(np.concatenate((past[m - row - 1], past[m - row])))
            self._Xring[k] = X
            self._Xpow[k] = X.real * X.real + X.imag * X.imag
            self._ref_hist[row] = self._Xpow[k]  # (shifted one row down when this block's comes in)
        self._xbuf[n:] = past[-1]

    def _place(self, start: int, pos: int) -> None:
        """Move the filter to begin at timeline lag `start`, keeping what it learnt."""
        shift = start - self._start
        if shift == 0:
            return
        self._start = start
        n = self.block
        m = self.m
        # both filters in time, start..start+tail each
        w = np.fft.irfft(self._W, axis=2)[:, :, :n].reshape(2, -1)
        moved = _zeros((2, m, 2 * n), np.float32)  # (rare: only when the delay moves)
        flat = moved[:, :, :n]
        taps = w.shape[1]
        if 0 < shift < taps:
            flat.reshape(2, -1)[:, : taps - shift] = w[:, shift:]
        elif -taps < shift < 0:
            flat.reshape(2, -1)[:, -shift:] = w[:, : taps + shift]
        np.fft.rfft(moved, axis=2, out=self._W)
        self._reload(pos)  # the reference history at the new alignment
        self._path_moved = False
        if abs(shift) > n:
            self.erle_db = min(self.erle_db, 0.0)
            self.converged = False

    def _suppress(self, e: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The residual echo suppressor on this block's error `e` and echo estimate `y`, whose
        spectra `_spectra` left in `_spec` (rows 1 and 2)."""
        n = self.block
        spec = self._spec
        np.add(spec[1], spec[2], out=spec[3])  # D = E + Y: d = e + y, and the transform is linear
        pw = np.abs(spec[1:], out=self._pow)
        pw *= pw
        pe, py = pw[0], pw[1]
        self._smooth(pw[2])
        work = self._work
        pd, wide = work[0], work[2]
        self._track_noise(pd)
        # leakage of the linear filter: residual / estimate, learnt while that ratio is
        # plausible for echo alone; far above it is double talk (or a changed path)
        # energies above the line's noise: a -50 dBFS hiss must not read as a poor filter
        noise = NOISE_BIAS * float(self._noise.sum())
        se_all, sy, sd_all = (float(v) for v in pw.sum(axis=1))
        se, sd = max(se_all - noise, 0.0), max(sd_all - noise, 0.0)
        if sy > 1e4 * n:
            ratio = se / sy
            self.double_talk = ratio > 4 * self._leak
            self._dt_blocks = self._dt_blocks + 1 if self.double_talk else 0
            if self._dt_blocks > DOUBLE_TALK_MAX_BLOCKS:
                # "double talk" this long, unconfirmed, is the echo path changing (the phone
                # moved): the filter's leakage is what it is now, and it is not to be trusted
                self._leak = min(1.0, ratio)
                self.converged = False
                self.erle_db = min(self.erle_db, 0.0)
                self.double_talk = False
                self._dt_blocks = 0
            if not self.double_talk:
                self._leak = min(1.0, max(0.003, 0.8 * self._leak + 0.2 * ratio))
                erle = 10 * math.log10((sd + 1e3 * n) / (se + 1e3 * n))
                self.erle_db = 0.9 * self.erle_db + 0.1 * erle
                self.converged = self.erle_db > CONVERGED_DB
                self._ever_converged |= self.converged
        self._leak = min(1.0, self._leak * 1.003)
        above = work[4]  # the uplink's power above twice its noise floor
        np.multiply(self._noise, 2.0, out=above)
        np.subtract(pd, above, out=above)
        np.maximum(above, 0.0, out=above)
        ceiling = self._unlocked_coupling(wide)  # the long-term bound, at any delay
        bound = self._bounds[0]
        if self.delay.delay is not None:
            C2 = self._C2
            self._learn_coupling()
            np.minimum(C2, ceiling, out=C2)
            # a converged filter's leakage scales the bound down; while it is not converged,
            # or the echo path seems to have moved, the whole echo envelope is assumed to be
            # there, at any plausible delay (double talk alone does not distrust the filter:
            # that would hide the very caller it is about)
            trusted = self.converged and not self._path_moved
            np.multiply(C2, work[1:3], out=self._bounds)  # coupling x span, wide coupling x wide
            if trusted:
                bound *= min(1.0, max(GAMMA_MIN, 4 * self._leak))
            else:
                wide_bound = self._bounds[1]
                wide_bound *= WIDE_MARGIN
                np.maximum(bound, wide_bound, out=bound)
        else:
            np.multiply(ceiling, wide, out=bound)
        residual = np.multiply(py, self._leak, out=self._residual)
        np.maximum(residual, bound, out=residual)
        inv = np.add(pe, 1e-9, out=self._inv)
        np.reciprocal(inv, out=inv)
        gain = np.multiply(residual, inv, out=self._gain)
        gain *= -OVER_SUBTRACT
        gain += 1.0
        floor = np.multiply(self._noise, inv, out=self._residual)  # (the residual is spent)
        floor *= NOISE_BIAS
        np.sqrt(floor, out=floor)
        np.maximum(gain, floor, out=gain)  # (the floor is >= 0)
        np.minimum(gain, 1.0, out=gain)
        if float(gain.min()) > 0.98:
            return e  # nothing to suppress: the block as it is, untouched
        E = spec[1]
        E *= gain
        out = np.fft.irfft(E, out=self._w)[n:]
        # what rings over from the previous block must not make this one louder than it was
        # (a click would leak into the silence after it and look like speech going on)
        eo, ei = float(np.dot(out, out)), float(np.dot(e, e))
        if eo > ei:
            out *= math.sqrt(ei / eo)
        return out

    def _smooth(self, pd: np.ndarray) -> None:
        """Rows 0-3 of `_work`: the uplink's power `pd`, the reference's in the filter's span,
        at every plausible delay, and its newest block's, each smoothed over 7 bins (the four
        at once: sums of 2 bins, of 4, then two fours overlapping in the middle bin)."""
        pad, bins = self._pad, self._bins
        z, sums = self._zin, self._zsums
        z[0, pad : pad + bins] = pd
        np.maximum.reduce(self._ref_hist, axis=0, out=z[1, pad : pad + bins])
        np.maximum.reduce(self._wide, axis=0, out=z[2, pad : pad + bins])
        z[3, pad : pad + bins] = self._ref_hist[0]
        np.add(z[:, :-1], z[:, 1:], out=sums)  # z[i] + z[i + 1]
        fours = sums[:, :-2]
        np.add(fours, sums[:, 2:], out=fours)  # z[i .. i + 3] (numpy buffers the overlap)
        smoothed = self._work[:4]
        np.add(fours[:, :bins], fours[:, 3 : 3 + bins], out=smoothed)
        smoothed -= z[:, 3 : 3 + bins]  # z[i .. i + 6] (bins i - 3 .. i + 3; the middle one was in both,
        # and it is no larger than the sum: no precision lost)
        smoothed *= 1.0 / SMOOTH_BINS

    def _unlocked_coupling(self, span: np.ndarray) -> np.ndarray:
        """The long-term ceiling on the coupling at any delay (and the whole bound before the
        delay is known): 4x the ratio of the uplink's power above its noise floor to the
        reference's power, averaged from the moment the reference has sounded for the
        longest delay, used 0.3 s later (until then an echo may still be on its way, or the
        average is too young: only the worst case is safe). Bins far louder than that bound
        allows (the caller talking), and double talk, are not averaged."""
        c = self._c_unlocked
        self._sounded += 1
        if self._sounded <= self._delay_blocks:  # an echo may still be on its way
            return c
        if self.double_talk:
            return c
        tmp = self._tmp
        np.multiply(c, span, out=tmp)
        tmp *= 4
        plausible = np.less_equal(self._work[4], tmp, out=self._mask)
        # [reference, above the floor] averaged, both in one go (rows 3-4 of `_work`)
        avg, new, t = self._avg, self._work[3:5], self._tmp2
        np.subtract(avg, new, out=t)
        t *= 0.95
        t += new  # 0.95 avg + 0.05 new
        np.copyto(avg, t, where=plausible)
        self._averaged += 1
        # (counted apart from `_sounded`: watched and skipped blocks sound but are not averaged,
        # and an average of nothing is no coupling at all)
        if self._averaged >= 15:
            self._coupling_learnt = True
            np.add(avg[0], 1e3 * self.block, out=tmp)
            np.divide(avg[1], tmp, out=tmp)
            tmp *= 4
            np.minimum(tmp, COUPLING_BOUND, out=c)
        return c

    def _learn_coupling(self) -> None:
        """Echo power / reference power per bin, an upper envelope: a peak hold that jumps to
        what echo-dominated blocks show and releases by `COUPLING_RELEASE` on each of them
        (every syllable of the bot's renews it). Only blocks the linear filters mostly
        explain teach it, up or down: not the caller talking (the filters' error rises), not
        a moved echo path (the same); a line whose echo is lost in its noise never teaches
        it, and the long-term ceiling keeps it small there. Both envelopes at once: in the
        filter's span (row 0) and at every plausible delay (row 1, released more slowly)."""
        C2, spans = self._C2, self._work[1:3]
        live = np.greater(spans, 1e3 * self.block, out=self._live)
        if not live.any():
            return
        if min(self._sb, self._sf) < 0.5 * self._sd and not self.double_talk:
            np.multiply(C2, self._release, out=C2, where=live)
            r = np.add(spans, 1e-9, out=self._ratio)
            np.divide(self._work[4], r, out=r)
            up = np.greater(r, C2, out=self._up)
            t = np.multiply(C2, 4, out=self._tmp2)
            up &= np.less(r, t, out=self._up2)
            up &= live
            loud = np.multiply(self._noise, 4.0, out=self._tmp)
            up &= np.greater(self._work[0], loud, out=self._mask)
            np.copyto(C2, r, where=up)
        np.minimum(C2, COUPLING_BOUND, out=C2)
        np.maximum(C2, 1e-5, out=C2)

    def _track_noise(self, pe: np.ndarray) -> None:
        if self._noise[0] < 0:
            self._noise[:] = pe
        else:
            self._noise *= NOISE_CREEP
            np.minimum(self._noise, np.maximum(pe, 1e-3), out=self._noise)

    def _bypass(self, d: np.ndarray) -> None:
        """Nothing played lately: the input as it is."""
        self.active = False
        n = self.block
        self._rows[1, :n] = d
        self._rows[2, :n] = 0.0
        self._xbuf[n:] = 0.0
        self._sounded = self._averaged = 0
