"""Time, injectable, so a call's timing logic can be tested without waiting for it.

Everything in a call that depends on elapsed time — the playback clock (what the caller
has heard), pacing of playAudio, the watchdog, the resume timer, per-turn metrics —
reads `Clock.now()` and waits with `Clock.sleep()`. Production uses `MonotonicClock`.
Tests pick one of:

- `ScaledClock(speed)`: virtual time runs `speed` times faster than real time, so a
  reply of five seconds of audio "plays" in a quarter of a second at speed 20, while
  sockets, tasks and providers stay real.
- `ManualClock`: time moves only when the test calls `advance()`; for pure logic tests.

Audio itself is never timed by the clock: the VAD counts frames, not seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (origin arbitrary)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time (returns at once for seconds <= 0)."""


class MonotonicClock:
    """Real time: `time.monotonic` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Virtual time running `speed` times faster than real time."""

    def __init__(self, speed: float = 10.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real0 = time.monotonic()

    def now(self) -> float:
        return self._real0 + (time.monotonic() - self._real0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class ManualClock:
    """Time that moves only when told to; sleepers wake in deadline order on `advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float, *, step: float = 0.01) -> None:
        """Move time forward in small steps, letting woken tasks run between steps."""
        target = self._now + seconds
        while True:
            nxt = min(target, self._now + step)
            if self._sleepers:
                nxt = min(nxt, self._sleepers[0][0])  # land exactly on the next deadline
            self._now = max(self._now, nxt)
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            for _ in range(5):
                await asyncio.sleep(0)
            if self._now >= target:
                return
