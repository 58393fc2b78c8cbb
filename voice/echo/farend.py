"""The echo canceller's reference: what the caller's speaker played, sample for sample.

The bot never hears its own playback, but it knows it exactly: every chunk it sends is
tapped with the instant the playback clock says it starts playing (`Speaker.tap`), and a
killAudio says when the caller's queue emptied. `FarEnd` lays those chunks on one timeline
of samples counted from the call's start on the bot's clock.

`UplinkClock` maps the caller's samples onto the same timeline. The Stream Node sends
audio continuously, so sample i of the uplink was captured at `anchor + i / rate`; the
anchor is the earliest arrival seen (a frame can arrive late, never early), so network
jitter (bursts, stalls) does not move the mapping: only sample counts do. The minimum is
taken over the last second, so a sender that slipped (skipped ahead after falling behind,
or dropped frames) is followed; and the anchor is re-quantised only when it moves by more
than `requantise_ms`, so the echo path the canceller learnt is not disturbed by every
arrival-time wobble.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class FarEnd:
    """A ring of the bot's played samples on the call's timeline (zeros where it was silent)."""

    def __init__(self, rate: int, origin: float, seconds: float = 4.0) -> None:
        self.rate = rate
        self.origin = origin
        self._size = max(1024, int(rate * seconds))
        self._ring = np.zeros(self._size, dtype=np.int16)  # int16: 128 KiB for 4 s at 16 kHz
        self.written_until = 0  # one past the last index holding played audio
        self._next = 0  # where a back-to-back chunk continues
        self.last_sound_end = -(1 << 62)  # one past the last index of any played audio
        self.first_sound = 1 << 62

    def index(self, t: float) -> int:
        return int(round((t - self.origin) * self.rate))

    def play(self, pcm: bytes, start: float) -> None:
        """A chunk the caller's speaker starts playing at `start` (bot clock)."""
        x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype=np.int16)
        if not len(x):
            return
        i = self.index(start)
        if abs(i - self._next) <= 2:  # back to back with the last chunk: no rounding gap
            i = self._next
        if i > self.written_until:
            self._zero(self.written_until, i)
        self._write(i, x)
        end = i + len(x)
        self._next = end
        self.written_until = max(self.written_until, end)
        if int(np.max(np.abs(x.astype(np.int32)))) > 8:  # digital silence (or dither) is no echo source
            self.last_sound_end = max(self.last_sound_end, end)
            self.first_sound = min(self.first_sound, i)

    def cut(self, at: float) -> None:
        """killAudio at `at`: nothing queued after that instant is played."""
        i = max(0, self.index(at))
        if i < self.written_until:
            self._zero(i, self.written_until)
            self.written_until = i
            self.last_sound_end = min(self.last_sound_end, i)
        self._next = min(self._next, i)

    def read(self, start: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """Samples [start, start + n) of the timeline; zeros outside what was played.
        Into `out` (n long) when given: the canceller reads every block into its own buffers."""
        lo = max(start, self.written_until - self._size, 0)
        hi = min(start + n, self.written_until)
        if out is None:
            out = np.zeros(n)
        elif lo != start or hi != start + n:  # (all of it played, the usual case: every sample is written below)
            out[:] = 0.0
        if hi > lo:
            a = lo % self._size
            k = min(hi - lo, self._size - a)
            out[lo - start : lo - start + k] = self._ring[a : a + k]
            if k < hi - lo:  # (wrapped)
                out[lo - start + k : hi - start] = self._ring[: hi - lo - k]
        return out

    def sounding(self, start: int, end: int) -> bool:
        """Did the speaker play anything in [start, end)?"""
        return start < self.last_sound_end and end > self.first_sound

    def _write(self, i: int, x: np.ndarray) -> None:
        if len(x) > self._size:  # longer than the ring: only its end can still be read
            i, x = i + len(x) - self._size, x[len(x) - self._size :]
        a = i % self._size
        k = min(len(x), self._size - a)
        self._ring[a : a + k] = x[:k]
        self._ring[: len(x) - k] = x[k:]

    def _zero(self, lo: int, hi: int) -> None:
        if hi - lo >= self._size:
            self._ring[:] = 0
        elif hi > lo:
            self._write(lo, np.zeros(hi - lo, dtype=np.int16))


class UplinkClock:
    """Uplink sample index -> timeline index, robust to jitter (see the module doc)."""

    def __init__(self, rate: int, origin: float, *, window_s: float = 1.0, requantise_ms: float = 4.0) -> None:
        self.rate = rate
        self.origin = origin
        self.samples = 0
        self._window = window_s
        self._starts: deque[tuple[float, float]] = deque()  # (arrival, implied capture start), rising starts
        self._anchor = math.inf  # seconds after origin at which uplink sample 0 was captured
        self._requantise = requantise_ms / 1000
        self._used = math.inf
        self.offset = 0  # timeline index of uplink sample 0, as used now
        self.jumps = 0

    def arrived(self, samples: int, now: float) -> None:
        """A frame of `samples` arrived at `now` (bot clock).

        The anchor is the earliest implied start over the last `window_s` (a sliding
        minimum): a late frame never moves it, but a sender that slipped (fell behind and
        skipped ahead, or lost frames) is followed within the window, as the echo in its
        samples follows the wall clock."""
        self.samples += samples
        start = now - self.origin - self.samples / self.rate
        q = self._starts
        while q and q[-1][1] >= start:
            q.pop()
        q.append((now, start))
        while q[0][0] < now - self._window:
            q.popleft()
        self._anchor = q[0][1]
        if not math.isfinite(self._used) or abs(self._anchor - self._used) > self._requantise:
            # (re-quantised rarely: each move shifts the echo path the canceller learnt)
            if math.isfinite(self._used):
                self.jumps += 1
            self._used = self._anchor
            self.offset = int(round(self._used * self.rate))

    def stream_time(self) -> float:
        """When the last uplink sample received was captured, on the bot's clock, had it
        arrived without delay: the time base for dating frames (immune to bursts)."""
        return self.origin + self._anchor + self.samples / self.rate
