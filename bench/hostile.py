"""Hostile peers for the limits figure, each in its own process so that what is measured is
the bot (or the console's stream client), never the attacker's own CPU.

    python -m bench.hostile tiny URL RATE SECONDS   -> a caller sending 2-byte audio frames at
                                                      RATE frames/s; prints {"frames": n, "s": t}
    python -m bench.hostile sse                     -> prints {"port": P}; serves
        /update-stream/{key}/konnect?mode=bigline&mb=N   one non-JSON `data:` line of N MB, then
                                                         one valid event, then keep-alives
        /update-stream/{key}/konnect?mode=flap&down=S    one event, then the stream drops and
                                                         every request fails for S s; then it
                                                         serves again (one event, then keep-alives)

The tiny-frame flooder speaks WebSocket by hand: one HTTP upgrade, then pre-built masked
frames written in blocks, so 81,000 frames a second cost it a few writes a second.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import time
from urllib.parse import urlsplit

from voice.protocol import CallMetadata, encode_metadata


def _frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


async def tiny(url: str, rate: float, seconds: float) -> None:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    meta = CallMetadata(callid="flood", virtual_number="+918000000000", customer_number="+919800000000")
    writer.write(_frame(0x1, encode_metadata(meta).encode()))
    block_frames = 1000
    block = b"".join(_frame(0x2, b"\x01\x00") for _ in range(block_frames))
    sent = 0
    t0 = time.monotonic()
    drain = asyncio.create_task(_discard(reader))
    try:
        while (now := time.monotonic()) - t0 < seconds:
            due = int((now - t0) * rate)
            while sent + block_frames <= due:
                writer.write(block)
                sent += block_frames
                await asyncio.wait_for(writer.drain(), max(0.01, seconds - (time.monotonic() - t0)))
            await asyncio.sleep(0.005)
    except (TimeoutError, ConnectionError):
        pass
    elapsed = time.monotonic() - t0
    drain.cancel()
    writer.close()
    print(json.dumps({"frames": sent, "s": round(elapsed, 2)}), flush=True)


async def _discard(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def sse() -> None:
    from aiohttp import web

    state = {"down_until": 0.0, "flapped": 0.0}
    served = [0]

    def event() -> str:
        served[0] += 1  # a new call each time: the client deduplicates replayed events
        return json.dumps({"event_type": "ORIGINATE", "uuid": f"hostile-{served[0]}", "call_direction": "Inbound",
                           "customer_number": "+919800000000", "knowlarity_number": "+918047100100"})

    async def stream(request: web.Request) -> web.StreamResponse:
        mode = request.query.get("mode", "bigline")
        if time.monotonic() < state["down_until"]:
            raise web.HTTPServiceUnavailable()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            if mode == "bigline":
                mb = float(request.query.get("mb", "20"))
                chunk = b"x" * (1 << 20)
                await resp.write(b"data: ")
                for _ in range(int(mb)):
                    await resp.write(chunk)
                await resp.write(b"\n\n")
            await resp.write(f"data: {event()}\n\n".encode())
            if mode == "flap" and not state["flapped"]:
                state["flapped"] = 1.0
                down = float(request.query.get("down", "20"))
                await asyncio.sleep(0.5)
                state["down_until"] = time.monotonic() + down
                print(json.dumps({"down_until_in": down}), flush=True)
                return resp  # the connection drops here
            while True:
                await asyncio.sleep(2)
                await resp.write(b": keep-alive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    app = web.Application()
    app.router.add_get("/update-stream/{key}/konnect", stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"port": port}), flush=True)
    await asyncio.Event().wait()


def main() -> None:
    kind = sys.argv[1]
    if kind == "tiny":
        asyncio.run(tiny(sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
    elif kind == "sse":
        asyncio.run(sse())
    else:
        raise SystemExit(f"unknown attack {kind!r}")


if __name__ == "__main__":
    main()
