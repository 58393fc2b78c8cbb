"""Give the UI its turn while a feed is being read as fast as it arrives.

A live stream that is far ahead (a burst, a flood, a backlog after a reconnect) hands over
item after item without awaiting any I/O, and every item ingested is loop time the UI does
not get: a view switch needs many loop turns, so a reader that yields only every few hundred
items made one take seconds. `Yielder` yields by time instead: at most every `slice_s` of
ingestion, whatever the rate, the loop runs everything else that is ready.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["Yielder"]


class Yielder:
    """`await yielder()` after each item: returns at once, or yields if the slice is used up."""

    def __init__(self, slice_s: float = 0.004) -> None:
        self.slice_s = slice_s
        self.yields = 0
        self._since = time.perf_counter()

    async def __call__(self) -> None:
        now = time.perf_counter()
        if now - self._since >= self.slice_s:
            self.yields += 1
            await asyncio.sleep(0)
            self._since = time.perf_counter()
