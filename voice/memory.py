"""Giving freed memory back to the operating system after a burst of calls.

CPython and the C libraries under it (pocketsphinx, soxr, numpy) allocate through glibc's
malloc. After a burst of calls is over, what they freed mostly stays in malloc's arenas:
the process keeps its peak RSS although nothing uses it (300 calls left 1.4 GB behind).
`malloc_trim(0)` returns the free pages at the top of each arena and every whole free page
inside them. It costs a few milliseconds, so it runs in a worker thread, at most once per
`MIN_INTERVAL_S`, when a burst has ended (the bot's last call closed, idle decoders freed).
On a libc without malloc_trim (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from typing import Any

MIN_INTERVAL_S = 5.0

_lock = threading.Lock()
_last = -1e18
_libc: Any = None
_loaded = False


def _trim_function() -> Any:
    global _libc, _loaded
    if not _loaded:
        _loaded = True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            fn = libc.malloc_trim
            fn.argtypes = [ctypes.c_size_t]
            fn.restype = ctypes.c_int
            _libc = fn
        except (OSError, AttributeError):
            _libc = None
    return _libc


def give_back_memory(force: bool = False) -> bool:
    """Return free heap pages to the OS (blocking; call it off the event loop). True if it ran."""
    global _last
    fn = _trim_function()
    if fn is None:
        return False
    with _lock:
        now = time.monotonic()
        if not force and now - _last < MIN_INTERVAL_S:
            return False
        _last = now
    fn(0)
    return True
