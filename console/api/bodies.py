"""Response bodies read with a size cap, before any parsing.

httpx reads a whole body into memory by default; an answer of hundreds of megabytes (a
misbehaving proxy, a hostile server) would be held whole and then parsed. Every body the
client and the stream read goes through `read_capped` instead: at most `limit` bytes are
kept and the rest is never read (the connection is closed with the response).
"""

from __future__ import annotations

import httpx

__all__ = ["MAX_BODY_BYTES", "MAX_ERROR_BODY_BYTES", "read_capped"]

MAX_BODY_BYTES = 16 * 1024 * 1024  # a full call-log page is well under 2 MiB
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error answer is read for its message only


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """Up to `limit` bytes of a streamed response's body (pass limit + 1 to detect more)."""
    out = bytearray()
    async for chunk in response.aiter_bytes():
        out += chunk[: limit - len(out)]
        if len(out) >= limit:
            break
    return bytes(out)
