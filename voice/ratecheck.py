"""Noticing a sample-rate mismatch between the Stream Node and the bot.

The guide's troubleshooting item 4 ("caller hears silence"): the Stream Node's
sampling-rate and the bot's rate must agree, and nothing in the protocol says which rate
the Stream Node uses; the audio frames are bare PCM. But the Stream Node streams in real
time, so its rate shows in the byte rate: 2 bytes a sample, N samples a second, judged
over `after_s` of streaming or more. A byte rate that snaps to another Stream Node rate
(8/16/24/32/48 k) is a mismatch, reported once per call.

Wall time between frames is not all streaming time. A gap longer than `pause_s` is one
of two things, and they call for opposite bookkeeping:

- the sender paused (a test caller between lines, a Stream Node on hold): no audio was
  made during the gap, so its time must be left out, or the rate reads low;
- the audio was made but not read: the bot's own loop was starved of CPU, or the network
  held the frames. Then the gap's audio arrives late, as a catch-up burst of queued
  frames, and the gap's time must be counted, or the burst reads as a fast Stream Node
  (a 16 kHz call under load looked like 24 kHz).

The frames after a gap tell them apart, at the rate measured so far: once the audio
arriving since the gap has made up for it, it was a stall and all of it counts; what is
still missing `settle_s` after the last gap was a pause and is left out. No verdict is
given while a gap is open. The bot's loop lag is not needed: a network stall followed by
a burst is the same case, and the frames themselves say which it was.
"""

from __future__ import annotations

from dataclasses import dataclass

STREAM_NODE_RATES = (8000, 16000, 24000, 32000, 48000)


@dataclass(frozen=True, slots=True)
class RateMismatch:
    configured: int
    measured: float
    likely: int

    def message(self) -> str:
        k = f"{self.configured // 1000}k"
        return (f"sample rate mismatch: audio arrives at {self.measured:.0f} samples/s, so the Stream Node is set to "
                f"{self.likely} Hz, but this call runs at {self.configured} Hz; set the Stream Node's sampling-rate "
                f"to {k}, or run the bot at {self.likely} (BOT_SAMPLE_RATE={self.likely}, or ?sample_rate={self.likely} "
                f"in the wss-url). Until then the caller hears silence or distorted audio and is misheard.")


@dataclass(slots=True)
class _OpenGap:
    """Gaps since `start`, and what arrived after them, until they are judged."""

    start: float  # when the stream went quiet
    gaps: float  # total length of the gaps in this stretch
    last_gap_end: float
    nbytes: int = 0  # bytes arrived since `start`


def snap(rate: float) -> int:
    """The Stream Node rate nearest to a measured one."""
    return min(STREAM_NODE_RATES, key=lambda r: abs(r - rate))


class RateCheck:
    """Feed it every uplink frame's size and arrival time; `push` returns a mismatch once.

    `origin` (when the call began, if known) counts the wait for the first frame like any
    other gap: a bot starved at the very start reads a backlog first, and that is no
    fast Stream Node either.
    """

    def __init__(self, configured: int, *, origin: float | None = None, after_s: float = 3.0,
                 give_up_s: float = 30.0, tolerance: float = 0.1, pause_s: float = 0.25,
                 settle_s: float = 1.0) -> None:
        self.configured = configured
        self.after_s = after_s
        self.give_up_s = give_up_s
        self.tolerance = tolerance
        self.pause_s = pause_s
        self.settle_s = settle_s
        self._last: float | None = origin
        self._active = 0.0  # seconds of streaming (pauses left out)
        self._bytes = 0  # bytes streamed in those seconds
        self._gap: _OpenGap | None = None
        self.paused_s = 0.0  # gap time judged a pause (left out)
        self.stalled_s = 0.0  # gap time judged a stall (its audio came late; counted)
        self.done = False
        self.measured: float | None = None

    def _byte_rate(self) -> float:
        """Bytes a second so far; the configured rate until there is enough to measure."""
        if self._active >= 0.5:
            return self._bytes / self._active
        return 2.0 * self.configured

    def _missing_s(self, gap: _OpenGap, now: float) -> float:
        """Seconds of audio the stretch since `gap.start` lacks, at the rate measured so far."""
        return (now - gap.start) - gap.nbytes / self._byte_rate()

    def _close_gap(self, now: float, paused: float) -> None:
        gap = self._gap
        assert gap is not None
        self._gap = None
        paused = min(max(paused, 0.0), gap.gaps)
        self.paused_s += paused
        self.stalled_s += gap.gaps - paused
        self._active += (now - gap.start) - paused
        self._bytes += gap.nbytes

    def push(self, nbytes: int, now: float) -> RateMismatch | None:
        if self.done:
            return None
        last, self._last = self._last, now
        if last is None:
            return None  # the first frame with no origin: its own duration is unknown
        dt = now - last
        gap = self._gap
        if dt > self.pause_s:  # a pause, or a stall whose frames are queued behind this one
            if gap is None:
                self._gap = gap = _OpenGap(start=last, gaps=0.0, last_gap_end=now)
            gap.gaps += dt
            gap.last_gap_end = now
        if gap is not None:
            gap.nbytes += nbytes
            missing = self._missing_s(gap, now)
            if missing < self.pause_s / 2:
                self._close_gap(now, 0.0)  # caught up: the audio was all made, only read late
            elif now - gap.last_gap_end >= self.settle_s:
                self._close_gap(now, missing)  # what never came was a pause
            return None  # no verdict from the frame that closes a gap
        self._active += dt
        self._bytes += nbytes
        return self._judge()

    def _judge(self) -> RateMismatch | None:
        if self._active < self.after_s:
            return None
        rate = self._bytes / 2 / self._active
        self.measured = rate
        likely = snap(rate)
        if likely != self.configured and abs(rate - likely) <= self.tolerance * likely:
            self.done = True
            return RateMismatch(self.configured, rate, likely)
        if abs(rate - self.configured) <= self.tolerance * self.configured or self._active > self.give_up_s:
            self.done = True  # it matches (or the stream is too irregular to tell): stop measuring
        return None
