"""Server-sent events read with a size cap on every line and every event, before any parsing.

httpx-sse reads a whole line into memory before it looks at it, so a 200 MB `data:` line was
200 MB of text, then a 35-second parse on the event loop. This reader splits the byte stream
itself and stops collecting a line as soon as it passes `max_line` bytes (the rest of that
line is skipped as it arrives, never stored), and drops an event whose data lines together
pass `max_event`. What is kept goes to httpx-sse's own `SSEDecoder`, so field handling
(`data:`, `event:`, `id:`, comments) is the library's. A dropped event is reported as an
`Oversize` marker in the stream of results, for the caller to count and log.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from httpx_sse import ServerSentEvent
from httpx_sse._decoders import SSEDecoder

__all__ = ["MAX_EVENT_BYTES", "MAX_LINE_BYTES", "Oversize", "bounded_sse"]

MAX_LINE_BYTES = 256 * 1024  # a call event is well under 2 KiB; a CDR a few KiB
MAX_EVENT_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class Oversize:
    """An event dropped unread: it was at least `size` bytes."""

    size: int


async def bounded_sse(
    chunks: AsyncIterable[bytes], *, max_line: int = MAX_LINE_BYTES, max_event: int = MAX_EVENT_BYTES
) -> AsyncIterator[ServerSentEvent | Oversize]:
    """The events of an SSE byte stream, each line and event within its cap."""
    decoder = SSEDecoder()
    buffer = bytearray()
    skipping = 0  # > 0 while the rest of an oversize line is being skipped (bytes seen so far)
    event_bytes = 0
    poisoned = 0  # size of the oversize part of the event being read, 0 if none
    pending_cr = False

    def finish_line(raw: bytes) -> ServerSentEvent | Oversize | None:
        nonlocal event_bytes, poisoned
        line = raw.decode("utf-8", errors="replace")
        if line:
            event_bytes += len(raw)
            if event_bytes > max_event and not poisoned:
                poisoned = event_bytes
        if poisoned and line:
            return None  # the event is dropped: do not even hand its lines to the decoder
        if poisoned:  # a blank line ends the dropped event
            size, poisoned, event_bytes = poisoned, 0, 0
            decoder.decode("")  # reset the decoder's pending fields
            return Oversize(size)
        sse = decoder.decode(line)
        if not line:
            event_bytes = 0
        return sse

    async for chunk in chunks:
        start = 0
        n = len(chunk)
        if pending_cr and n and chunk[0] == 0x0A:
            start = 1  # the LF of a CRLF split across chunks
        pending_cr = False
        while start < n:
            cut = _line_end(chunk, start)
            if cut < 0:  # no line end in the rest of this chunk
                rest = n - start
                if skipping:
                    skipping += rest
                elif len(buffer) + rest > max_line:
                    skipping = len(buffer) + rest
                    buffer.clear()
                else:
                    buffer += chunk[start:]
                break
            end = cut + 1
            if chunk[cut] == 0x0D:
                if end < n and chunk[end] == 0x0A:
                    end += 1
                elif end == n:
                    pending_cr = True
            if skipping:
                size = skipping + (cut - start)
                skipping = 0
                if not poisoned:
                    poisoned = size
                event_bytes += size
                continue_at = end
                start = continue_at
                continue
            if len(buffer) + (cut - start) > max_line:
                size = len(buffer) + (cut - start)
                buffer.clear()
                if not poisoned:
                    poisoned = size
                start = end
                continue
            buffer += chunk[start:cut]
            result = finish_line(bytes(buffer))
            buffer.clear()
            start = end
            if result is not None:
                yield result
    if buffer and not skipping:
        result = finish_line(bytes(buffer))
        if result is not None:
            yield result


def _line_end(chunk: bytes, start: int) -> int:
    """Index of the first CR or LF at or after `start`, or -1."""
    lf = chunk.find(b"\n", start)
    cr = chunk.find(b"\r", start, lf if lf >= 0 else len(chunk))
    return cr if cr >= 0 else lf
