"""A live-stream flood server: Knowlarity's SSE shape, as fast as asked, from its own process.

    python -m bench.flood        -> prints {"port": P}; then serves
    GET /update-stream/{key}/konnect?rate=R&count=N

Each event is one of the CTI section's shapes (`event_type` events, then a CDR), in
realistic call lifecycles: ORIGINATE, AGENT_CALL, AGENT_ANSWER, CUSTOMER_CALL,
CUSTOMER_ANSWER, BRIDGE, HANGUP, CDR, with 200 calls in flight interleaved and 50 agents.
`rate` events per second (0: as fast as the client reads; TCP flow control paces it),
`count` events in all, then the stream stays open with keep-alive comments. Unpaced
(rate 0) the messages are rendered ahead, so the server costs little and measures the
client, not itself; paced, they are rendered as they fall due (a few % of a core at
10,000/s).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator

from aiohttp import web

LIFECYCLE = ("ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "CUSTOMER_CALL", "CUSTOMER_ANSWER", "BRIDGE", "HANGUP")
IN_FLIGHT = 200


def event(call: int, kind: str) -> dict[str, object]:
    customer = f"+9198{call % 100_000:08d}"
    agent = f"+9197{call % 50:08d}"
    if kind == "CDR":
        return {"type": "CDR", "uuid": f"flood-{call}", "dispnumber": "+918047100100", "caller_id": customer,
                "Call_Type": "Incoming", "destination": agent, "business_call_type": "Phone",
                "start_time": "2026-11-23 10:00:00+05:30", "end_time": "2026-11-23 10:01:00+05:30",
                "call_duration": 60, "resource_url": None, "timezone_offset": "+0530"}
    return {"event_type": kind, "uuid": f"flood-{call}", "call_direction": "Inbound",
            "business_call_type": "Phone", "agent_number": agent, "customer_number": customer,
            "knowlarity_number": "+918047100100", "call_recording": None, "call_type": None,
            "called": "8047100100", "k_api_key": "flood-key-never-shown"}


def messages(count: int) -> Iterator[bytes]:
    """`count` SSE messages in lifecycle order, IN_FLIGHT calls interleaved."""
    sent = 0
    call = 0
    while True:
        batch = range(call, call + IN_FLIGHT)
        for kind in (*LIFECYCLE, "CDR"):
            for c in batch:
                if sent >= count:
                    return
                yield b"data: " + json.dumps(event(c, kind)).encode() + b"\n\n"
                sent += 1
        call += IN_FLIGHT


def render(count: int) -> list[bytes]:
    return list(messages(count))


async def stream(request: web.Request) -> web.StreamResponse:
    rate = float(request.query.get("rate", "0"))
    count = int(request.query.get("count", "100000"))
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    if rate <= 0:
        rendered = render(count)
        await resp.prepare(request)
    else:
        # Paced: rendered as they fall due (a long paced flood rendered ahead took the server
        # tens of seconds and hundreds of MiB before its first byte).
        await resp.prepare(request)
        pending = messages(count)
    try:
        if rate <= 0:
            for i in range(0, len(rendered), 200):
                await resp.write(b"".join(rendered[i : i + 200]))
        else:
            t0 = time.monotonic()
            sent = 0
            while sent < count:
                await asyncio.sleep(0.01)
                due = min(count, int((time.monotonic() - t0) * rate))
                if due > sent:
                    await resp.write(b"".join(itertools.islice(pending, due - sent)))
                    sent = due
        while True:
            await asyncio.sleep(5)
            await resp.write(b": keep-alive\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return resp


async def main() -> None:
    app = web.Application()
    app.router.add_get("/update-stream/{key}/konnect", stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"port": port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
