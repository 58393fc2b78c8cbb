"""Noticing a sample-rate mismatch between the Stream Node and the bot.

The guide's troubleshooting item 4 ("caller hears silence"): the Stream Node's
sampling-rate and the bot's rate must agree, and nothing in the protocol says which rate
the Stream Node uses; the audio frames are bare PCM. But the Stream Node streams in real
time, so its rate shows in the byte rate: 2 bytes a sample, N samples a second. After
`after_s` of audio (long enough that a network stall or a burst moves the estimate by a
few percent at most), a byte rate that matches another Stream Node rate (8/16/24/32/48 k)
better than the configured one is a mismatch, reported once per call. Pauses in the
stream (a sender that stops and starts again: test callers, a Stream Node on hold) are
left out of the measured time, so they do not read as a slower rate.
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


class RateCheck:
    """Feed it every uplink frame's size and arrival time; `push` returns a mismatch once."""

    def __init__(self, configured: int, *, after_s: float = 3.0, give_up_s: float = 30.0, tolerance: float = 0.1,
                 pause_s: float = 0.25) -> None:
        self.configured = configured
        self.after_s = after_s
        self.give_up_s = give_up_s
        self.tolerance = tolerance
        self.pause_s = pause_s
        self._last: float | None = None
        self._active = 0.0  # seconds of streaming, pauses left out
        self._bytes = 0
        self.done = False
        self.measured: float | None = None

    def push(self, nbytes: int, now: float) -> RateMismatch | None:
        if self.done:
            return None
        last, self._last = self._last, now
        if last is None or now - last > self.pause_s:
            return None  # the first frame of a stretch: its own duration is unknown (and a pause is no audio)
        self._active += now - last
        self._bytes += nbytes
        if self._active < self.after_s:
            return None
        rate = self._bytes / 2 / self._active
        self.measured = rate
        likely = min(STREAM_NODE_RATES, key=lambda r: abs(r - rate))
        if likely != self.configured and abs(rate - likely) <= self.tolerance * likely:
            self.done = True
            return RateMismatch(self.configured, rate, likely)
        if abs(rate - self.configured) <= self.tolerance * self.configured or self._active > self.give_up_s:
            self.done = True  # it matches (or the stream is too irregular to tell): stop measuring
        return None
