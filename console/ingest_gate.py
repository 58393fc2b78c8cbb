"""Keys before the flood: the live feeds pause while the UI answers a key.

The live stream and the bot feed are read on the UI's event loop. Under a flood the
reader always has items buffered, so it takes a slice of the loop on every turn, and a
view switch is a chain of many short turns (the key, the action, the screen's resume,
layout, the compositor's frame): each waited behind a slice of ingestion, and on a
loaded machine a switch took seconds. Nothing is gained by ingesting during those few
hundred milliseconds (the view being left is not shown, the new one is drawn once it is
up), and nothing is lost by waiting: items wait in the socket and are read right after.

`IngestGate.hold()` is called when input arrives and `release()` once the answer is on
screen; a reader calls `await gate.turn()` between items. A hold ends by itself after
`max_hold_s`, and after one the readers get at least `min_run_s` before the next, so a
key held down (auto-repeat) cannot starve the feeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["IngestGate"]


class IngestGate:
    """Lets the live feeds' readers run, except while the UI is answering input."""

    def __init__(self, *, max_hold_s: float = 0.4, min_run_s: float = 0.1, items_per_turn: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_hold_s = max_hold_s
        self.min_run_s = min_run_s
        self.items_per_turn = items_per_turn
        self.clock = clock
        self._open = asyncio.Event()
        self._open.set()
        self._pending = 0                 # answers the UI is still working on
        self._held_at: float | None = None
        self._reopened_at = -1e9
        self._items = 0
        self.holds = 0                    # how many times input held the feeds (tests, figures)
        self.held_s = 0.0                 # and for how long in all

    @property
    def held(self) -> bool:
        return self._held_at is not None

    def hold(self) -> None:
        """Input arrived (or an answer to it started): readers wait at their next turn, until
        every hold is released. Right after a hold that ran out, readers first get their
        `min_run_s`."""
        self._pending += 1
        if self._held_at is None and self.clock() - self._reopened_at >= self.min_run_s:
            self._held_at = self.clock()
            self._open.clear()
            self.holds += 1

    def release(self) -> None:
        """One answer is on screen; when none is left, readers go on."""
        self._pending = max(0, self._pending - 1)
        if self._pending == 0:
            self._reopen()

    def _reopen(self) -> None:
        if self._held_at is None:
            return
        now = self.clock()
        self.held_s += now - self._held_at
        self._held_at = None
        self._reopened_at = now
        self._open.set()

    async def turn(self) -> None:
        """Called by a reader after each item: every `items_per_turn` items it gives the loop
        a turn, and while input is being answered it waits (at most what is left of
        `max_hold_s`; then the hold is over, whatever is still pending)."""
        self._items += 1
        if self._held_at is None:
            if self._items >= self.items_per_turn:
                self._items = 0
                await asyncio.sleep(0)
            return
        self._items = 0
        left = self.max_hold_s - (self.clock() - self._held_at)
        if left > 0:
            try:
                await asyncio.wait_for(self._open.wait(), left)
            except TimeoutError:
                pass
        if self._held_at is not None:
            self._pending = 0
            self._reopen()
