"""What one caller, or a burst of callers, may cost the bot: the limits a deployment keeps.

- `CallSlots`: at most `BOT_MAX_CALLS` voice connections at once; the next one is refused
  with close code 1013 ("try again later"), which the Stream Node treats as a failed
  stream, not as a bot bug.
- `AudioBudget`: one connection's audio, as two token buckets. Audio bytes arriving faster
  than `BOT_MAX_AUDIO_SPEED` x real time (after a short catch-up burst a jittery network
  legitimately sends) are dropped before any processing: not recognised, not recorded.
  Frames beyond `BOT_MAX_FRAMES_PER_S` are not dropped but *read later*: the server stops
  reading that socket for a moment, websockets stops reading the transport, and TCP flow
  control pushes back on the sender. Parsing a frame costs websockets a few microseconds
  whatever its size, so pacing the reads is what bounds the CPU one connection can take
  from every other call (81,000 two-byte frames a second used to take a whole core).
- `Coalescer`: frames shorter than 10 ms are joined before they reach the session, so
  the per-frame work downstream (VAD, STT queue, recorder) is per 10 ms of audio at most.
- `ThrottledLog`: a warning that may repeat under attack (refusals) is written at most
  once a second, with the count of the ones it stood for.

Everything here is O(1) per frame and allocates nothing on the admitted path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A network stall followed by a catch-up delivers a few seconds of audio at once; the
# byte bucket holds this much audio so that such a catch-up is never dropped.
CATCH_UP_S = 2.0
# A burst of dropping (or pacing) ends after this long without a drop: the next drop
# starts a new burst and logs again. Keeps it to one line per burst at any rate.
BURST_QUIET_S = 1.0
COALESCE_MS = 10


class ThrottledLog:
    """At most one line per `interval_s`; the next line says how many were left out."""

    def __init__(self, emit: Callable[..., None], interval_s: float = 1.0) -> None:
        self._emit = emit
        self.interval_s = interval_s
        self._last = -1e18
        self._skipped = 0

    def __call__(self, now: float, msg: str, *args: object) -> None:
        if now - self._last < self.interval_s:
            self._skipped += 1
            return
        if self._skipped:
            msg += " (and %d more like it in the last %.0f s)"
            args = (*args, self._skipped, now - self._last)
        self._last = now
        self._skipped = 0
        self._emit(msg, *args)


class CallSlots:
    """A counter of live voice connections with a ceiling."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.refused = 0

    def acquire(self) -> bool:
        if self.active >= self.limit:
            self.refused += 1
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active = max(0, self.active - 1)


@dataclass
class BudgetTotals:
    dropped_frames: int = 0
    dropped_bytes: int = 0
    paced_frames: int = 0
    bursts: int = 0


class _Bucket:
    __slots__ = ("cap", "level", "rate", "t")

    def __init__(self, rate: float, cap: float, now: float) -> None:
        self.rate, self.cap, self.level, self.t = rate, cap, cap, now

    def refill(self, now: float) -> None:
        if now > self.t:
            self.level = min(self.cap, self.level + (now - self.t) * self.rate)
        self.t = now


class AudioBudget:
    """One connection's audio budget. Per frame: `pace(now)` (seconds to wait before
    handling it; 0 almost always), then `admit(nbytes, now)` (False: drop it).

    `on_drop_burst(kind)` is called once at the start of each burst of drops ("speed")
    or of paced reads ("frames"), for the caller to log one line.
    """

    def __init__(
        self, sample_rate: int, now: float, *, speed: float = 1.5, frames_per_s: int = 200,
        catch_up_s: float = CATCH_UP_S, on_burst: Callable[[str], None] | None = None,
    ) -> None:
        self.speed = speed
        self.frames_per_s = frames_per_s
        byte_rate = speed * sample_rate * 2
        self._bytes = _Bucket(byte_rate, byte_rate * catch_up_s, now)
        self._frames = _Bucket(float(frames_per_s), frames_per_s * catch_up_s, now)
        self._on_burst = on_burst or (lambda kind: None)
        self._last_drop = -1e18
        self._last_pace = -1e18
        self.totals = BudgetTotals()

    def pace(self, now: float) -> float:
        """Take one frame token; if there is none, how long to wait for a few of them."""
        frames = self._frames
        frames.refill(now)
        if frames.level >= 1.0:
            frames.level -= 1.0
            return 0.0
        if now - self._last_pace > BURST_QUIET_S:
            self.totals.bursts += 1
            self._on_burst("frames")
        self._last_pace = now
        self.totals.paced_frames += 1
        frames.level -= 1.0  # owed: the wait below pays it back
        return max(-frames.level / frames.rate, 0.02)  # wake per ~20 ms of tokens, not per frame

    def admit(self, nbytes: int, now: float) -> bool:
        bucket = self._bytes
        bucket.refill(now)
        if bucket.level >= nbytes:
            bucket.level -= nbytes
            return True
        if now - self._last_drop > BURST_QUIET_S:
            self.totals.bursts += 1
            self._on_burst("speed")
        self._last_drop = now
        self.totals.dropped_frames += 1
        self.totals.dropped_bytes += nbytes
        return False


class Coalescer:
    """Joins frames shorter than COALESCE_MS into one; frames at least that long pass as they are."""

    def __init__(self, sample_rate: int, min_ms: int = COALESCE_MS) -> None:
        self.min_bytes = 2 * (sample_rate * min_ms // 1000)
        self._buf = bytearray()

    def push(self, pcm: bytes) -> bytes | None:
        """The audio to hand on now, or None while a short run is still being collected."""
        if not self._buf:
            if len(pcm) >= self.min_bytes:
                return pcm
            self._buf += pcm
            return None
        self._buf += pcm
        if len(self._buf) < self.min_bytes:
            return None
        out = bytes(self._buf)
        self._buf.clear()
        return out


def describe_totals(totals: BudgetTotals, rate: int) -> str | None:
    """One line for the end of a call that went over its budget; None if it never did."""
    if not (totals.dropped_frames or totals.paced_frames):
        return None
    parts = []
    if totals.dropped_frames:
        parts.append(f"dropped {totals.dropped_frames} frames ({totals.dropped_bytes / (2 * rate):.1f} s of audio) "
                     "over the speed budget")
    if totals.paced_frames:
        parts.append(f"read {totals.paced_frames} frames late over the frame budget")
    return "; ".join(parts) + f" in {totals.bursts} bursts"
