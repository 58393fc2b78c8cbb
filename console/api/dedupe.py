"""The live stream's memory of what it has delivered, so a replayed event is delivered once.

Knowlarity's stream re-sends events after a reconnect (and the console backfills CDRs from
the call log), so the same event can arrive twice. Each item's `dedupe_key` (the call, the
event type, and for an agent leg the agent's number) is remembered in arrival order; the
memory holds at most `size` keys and forgets the oldest first, so a console that runs for
weeks keeps a bounded set. A key seen again counts as fresh use (it moves to the newest end).
"""

from __future__ import annotations

from collections import OrderedDict

from .events import StreamItem

__all__ = ["RecentItems"]

MIN_SIZE = 16


class RecentItems:
    """A bounded, least-recently-seen-first memory of stream items' dedupe keys."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = max(MIN_SIZE, size)
        self._keys: OrderedDict[tuple[str, ...], None] = OrderedDict()

    def seen_before(self, item: StreamItem) -> bool:
        """True if an item with this key was delivered already; otherwise remember it. Items
        without a key (nothing to tell two apart) are never duplicates."""
        key = item.dedupe_key
        if key is None:
            return False
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._keys)
