"""Fan-out of live events to the stream's subscribers.

Each subscriber (one open GET on /update-stream/{key}/konnect) has its own bounded
queue of ready-to-send SSE chunks; `publish` serialises an event once and offers it to
every queue without waiting, so one slow client never delays the others. A client that
falls `MAX_BACKLOG` events behind is cut off, as a real server would drop it.

`drop_all()` is the reconnect test hook: it aborts every subscriber's TCP connection
mid-stream (no clean end of the chunked body), which is what a client sees when the
network or the server fails.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

MAX_BACKLOG = 5000


def sse_chunk(payload: dict[str, Any]) -> bytes:
    """One SSE message: `data: <json>` and a blank line."""
    return f"data: {json.dumps(payload, separators=(', ', ': '))}\n\n".encode()


class Subscriber:
    """One connected stream client."""

    def __init__(self, transport: asyncio.BaseTransport | None, peer: str) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(MAX_BACKLOG)
        self.transport = transport
        self.peer = peer
        self.dropped = False

    def offer(self, chunk: bytes) -> bool:
        try:
            self.queue.put_nowait(chunk)
            return True
        except asyncio.QueueFull:
            return False

    def _end(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    def drop(self) -> None:
        """Abort the connection at once (the client sees a broken stream)."""
        self.dropped = True
        if self.transport is not None and not self.transport.is_closing():
            abort = getattr(self.transport, "abort", None)
            if abort is not None:
                abort()
            else:
                self.transport.close()
        self._end()

    def finish(self) -> None:
        """End the stream cleanly (server shutdown)."""
        self._end()


class StreamHub:
    """Every open stream connection, and the events to send them."""

    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self.published = 0  # events offered since start (for tests and the CLI's status)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self, transport: asyncio.BaseTransport | None, peer: str = "") -> Subscriber:
        sub = Subscriber(transport, peer)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def publish(self, payload: dict[str, Any]) -> int:
        """Queue `payload` for every subscriber; returns how many got it."""
        self.published += 1
        chunk = sse_chunk(payload)
        delivered = 0
        for sub in list(self._subscribers):
            if sub.offer(chunk):
                delivered += 1
            else:
                log.warning("stream client %s fell %d events behind; dropping it", sub.peer or "?", MAX_BACKLOG)
                self._subscribers.discard(sub)
                sub.drop()
        return delivered

    def drop_all(self) -> int:
        subs = list(self._subscribers)
        self._subscribers.clear()
        for sub in subs:
            sub.drop()
        return len(subs)

    def finish_all(self) -> None:
        subs = list(self._subscribers)
        self._subscribers.clear()
        for sub in subs:
            sub.finish()
