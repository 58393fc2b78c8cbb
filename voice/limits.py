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
- `LoopStalls`: how long the bot's own event loop could not run, so that the budget
  does not blame the caller for the bot's lag (below).

The budget sees a frame when the bot reads it, not when it reached the socket. When the
bot's loop stalls (starved of CPU, or a slow step in some call), a caller streaming at
1x real time leaves a backlog in the socket that is read in one burst once the loop runs
again: a burst that looks too fast, though the caller did nothing wrong. The tokens that
accrued while the loop stood still are therefore kept beyond the catch-up cap. That never
lets a connection past `BOT_MAX_AUDIO_SPEED` x its wall time on average (the refill rate
is unchanged); it only stops the cap from throwing away the time the bot itself lost.

Everything here is O(1) per frame and allocates nothing on the admitted path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from voice.clock import Clock

# A network stall followed by a catch-up delivers a few seconds of audio at once; the
# byte bucket holds this much audio so that such a catch-up is never dropped.
CATCH_UP_S = 2.0
# A burst of dropping (or pacing) ends after this long without a drop: the next drop
# starts a new burst and logs again. Keeps it to one line per burst at any rate.
BURST_QUIET_S = 1.0
COALESCE_MS = 10
# The loop-stall ticker wakes every STALL_TICK_S; of each wake-up's lateness, only what is
# over STALL_BUSY_S counts as a stall. Less is a busy loop (other calls' frames, even a
# flood on another connection), and it never overflows the catch-up cap anyway: what
# drops a well-behaved caller's audio is a stall of seconds.
STALL_TICK_S = 0.05
STALL_BUSY_S = 0.1


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


class LoopStalls:
    """The bot's own lag: the total time its event loop could not run tasks, on `clock`.

    A ticker sleeps STALL_TICK_S at a time; how much later than asked it wakes (beyond
    STALL_BUSY_S) is time the loop stood still. `total()` also counts a stall still
    going on (the ticker not yet run), so a reader that runs first after a stall sees it.
    One per server; each connection's budget takes the difference since its last frame.
    """

    def __init__(self, clock: Clock, tick_s: float = STALL_TICK_S, busy_s: float = STALL_BUSY_S) -> None:
        self.clock = clock
        self.tick_s = tick_s
        self.busy_s = busy_s
        self._total = 0.0
        self._due: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-stalls")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task, self._due = None, None

    def late(self, now: float) -> float:
        """How far the ticker is overdue right now (0 when the loop is running)."""
        if self._due is None:
            return 0.0
        return max(0.0, now - self._due - self.busy_s)

    def total(self) -> float:
        return self._total + self.late(self.clock.now())

    async def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                self._due = self.clock.now() + self.tick_s
                await self.clock.sleep(self.tick_s)
                self._total += self.late(self.clock.now())


class _Bucket:
    __slots__ = ("cap", "level", "rate", "stall_rate", "t")

    def __init__(self, rate: float, cap: float, now: float, stall_rate: float) -> None:
        self.rate, self.cap, self.level, self.t = rate, cap, cap, now
        self.stall_rate = stall_rate  # what a well-behaved sender spends per second: kept through a stall

    def refill(self, now: float, stalled_s: float = 0.0) -> None:
        """Tokens for the time since the last refill, capped; except that what a
        well-behaved sender left queued while the bot's loop stood still (`stalled_s` of
        it) is kept above the cap, to be spent on that backlog."""
        if now > self.t:
            gained = (now - self.t) * self.rate
            kept = min(min(stalled_s, now - self.t) * self.stall_rate, gained)
            capped = min(self.cap, self.level + gained - kept)
            self.level = max(self.level, capped) + kept  # above the cap after a stall: spent, never clipped
        self.t = now


class AudioBudget:
    """One connection's audio budget. Per frame: `pace(now)` (seconds to wait before
    handling it; 0 almost always), then `admit(nbytes, now)` (False: drop it).

    `on_drop_burst(kind)` is called once at the start of each burst of drops ("speed")
    or of paced reads ("frames"), for the caller to log one line.

    `stalls` (the server's `LoopStalls.total`) says how long the bot's loop has stood
    still, on the same clock. Only what it stood still while this connection waited for
    its next frame counts (`waiting()` marks the start of each wait): a connection whose
    own frames keep the loop busy (a flood) earns nothing by it.
    """

    def __init__(
        self, sample_rate: int, now: float, *, speed: float = 1.5, frames_per_s: int = 200,
        catch_up_s: float = CATCH_UP_S, on_burst: Callable[[str], None] | None = None,
        stalls: Callable[[], float] | None = None,
    ) -> None:
        self.speed = speed
        self.frames_per_s = frames_per_s
        byte_rate = speed * sample_rate * 2
        self._bytes = _Bucket(byte_rate, byte_rate * catch_up_s, now, stall_rate=sample_rate * 2.0)
        self._frames = _Bucket(float(frames_per_s), frames_per_s * catch_up_s, now, stall_rate=float(frames_per_s))
        self._on_burst = on_burst or (lambda kind: None)
        self._last_drop = -1e18
        self._last_pace = -1e18
        self.totals = BudgetTotals()
        self._stalls = stalls
        self._stalled_seen = stalls() if stalls is not None else 0.0
        self._stall_for_bytes = 0.0  # stall time not yet credited to each bucket
        self._stall_for_frames = 0.0
        self.stall_credit_s = 0.0  # the bot's own stalls seen by this connection

    def waiting(self) -> None:
        """This connection is done with its frame and waits for the next one."""
        if self._stalls is not None:
            self._stalled_seen = self._stalls()

    def _take_stalls(self) -> None:
        if self._stalls is None:
            return
        total = self._stalls()
        if total > self._stalled_seen:
            new = total - self._stalled_seen
            self._stalled_seen = total
            self._stall_for_bytes += new
            self._stall_for_frames += new
            self.stall_credit_s += new

    def pace(self, now: float) -> float:
        """Take one frame token; if there is none, how long to wait for a few of them."""
        frames = self._frames
        self._take_stalls()
        frames.refill(now, self._stall_for_frames)
        self._stall_for_frames = 0.0
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
        self._take_stalls()
        bucket.refill(now, self._stall_for_bytes)
        self._stall_for_bytes = 0.0
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
