"""Event-loop lag: how late a short sleep wakes up, the one number that says a worker is overloaded.

A ticker sleeps `interval_s` and records how much later than asked it woke. The worst
value since the last `take_max_ms()` goes into each heartbeat; every sample goes to the
metrics histogram through `on_sample`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class LoopLagMonitor:
    def __init__(self, interval_s: float = 0.05, on_sample: Callable[[float], None] | None = None) -> None:
        self.interval_s = interval_s
        self.on_sample = on_sample
        self._max_ms = 0.0
        self.last_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-lag")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def take_max_ms(self) -> float:
        value, self._max_ms = self._max_ms, 0.0
        return value

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                asked = loop.time()
                await asyncio.sleep(self.interval_s)
                lag_ms = max(0.0, (loop.time() - asked - self.interval_s) * 1000.0)
                self.last_ms = lag_ms
                self._max_ms = max(self._max_ms, lag_ms)
                if self.on_sample is not None:
                    self.on_sample(lag_ms / 1000.0)
