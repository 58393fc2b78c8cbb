"""Full garbage collections where nobody waits for the screen.

CPython runs a full (oldest-generation) collection by itself whenever enough objects
have survived the younger ones, and it walks every tracked object: the console holds a
few hundred thousand (Textual's widgets and render caches, the calls board, the stream's
models), so one took 0.2-0.6 s on a loaded machine. Under a flood of live events the
younger generations fill fast and full collections came every few seconds, often in the
middle of a view switch: the key waited for the collector.

`QuietCollector` takes the full collections out of CPython's hands while the console
runs and does them itself from the refresh timer, at most every `interval_s`, when no
input came for `quiet_s` (and anyway after `max_wait_s`, so memory held by reference
cycles is returned whatever the user does). Young collections stay automatic. What
exists once the console is up (modules, classes, the first view) is frozen out of every
collection (`gc.freeze`), so the full collections it does are shorter too.

Process-wide, so it counts its users: the first start sets it up, the last stop puts
CPython's own settings back (tests run many consoles in one process).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

__all__ = ["QuietCollector"]

_NEVER = 1_000_000_000  # a generation-2 threshold CPython never reaches by itself


class QuietCollector:
    """Schedules full garbage collections at quiet moments (see the module docstring)."""

    _users = 0
    _saved: tuple[int, int, int] | None = None

    def __init__(self, *, interval_s: float = 10.0, quiet_s: float = 1.0, max_wait_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._started = False
        self._last_full = clock()
        self._last_input = -1e9
        self.collections = 0      # full collections run here
        self.longest_s = 0.0      # the longest of them

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        cls = type(self)
        if cls._users == 0:
            cls._saved = gc.get_threshold()
            gc.collect()
            gc.freeze()
            young, middle, _ = cls._saved
            gc.set_threshold(young, middle, _NEVER)
        cls._users += 1
        self._last_full = self.clock()

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        cls = type(self)
        cls._users -= 1
        if cls._users == 0 and cls._saved is not None:
            gc.set_threshold(*cls._saved)
            gc.unfreeze()

    def input_seen(self) -> None:
        """A key or a click: no full collection for `quiet_s`."""
        self._last_input = self.clock()

    def tick(self) -> bool:
        """Called by the UI's refresh timer: runs a full collection if one is due and the
        moment is quiet. True if it ran one."""
        if not self._started:
            return False
        now = self.clock()
        since = now - self._last_full
        if since < self.interval_s:
            return False
        if now - self._last_input < self.quiet_s and since < self.max_wait_s:
            return False
        started = time.perf_counter()
        gc.collect()
        self.longest_s = max(self.longest_s, time.perf_counter() - started)
        self.collections += 1
        self._last_full = self.clock()
        return True
