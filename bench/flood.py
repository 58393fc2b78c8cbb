"""A live-stream flood server: Knowlarity's SSE shape, as fast as asked, from its own process.

    python -m bench.flood        -> prints {"port": P}; then serves
    GET /update-stream/{key}/konnect?rate=R&count=N

Each event is one of the CTI section's shapes (`event_type` events, then a CDR), in
realistic call lifecycles: ORIGINATE, AGENT_CALL, AGENT_ANSWER, CUSTOMER_CALL,
CUSTOMER_ANSWER, BRIDGE, HANGUP, CDR, with 200 calls in flight interleaved and 50 agents.
`rate` events per second (0: as fast as the client reads; TCP flow control paces it),
`count` events in all, then the stream stays open with keep-alive comments. Rendering is
done ahead, so the server costs little and measures the client, not itself.
"""

from __future__ import annotations

import asyncio
import json
import time

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


def render(count: int) -> list[bytes]:
    """`count` SSE messages in lifecycle order, IN_FLIGHT calls interleaved."""
    out: list[bytes] = []
    call = 0
    while len(out) < count:
        batch = range(call, call + IN_FLIGHT)
        for kind in (*LIFECYCLE, "CDR"):
            for c in batch:
                out.append(b"data: " + json.dumps(event(c, kind)).encode() + b"\n\n")
        call += IN_FLIGHT
    return out[:count]


async def stream(request: web.Request) -> web.StreamResponse:
    rate = float(request.query.get("rate", "0"))
    count = int(request.query.get("count", "100000"))
    messages = render(count)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    try:
        if rate <= 0:
            for i in range(0, len(messages), 200):
                await resp.write(b"".join(messages[i : i + 200]))
        else:
            t0 = time.monotonic()
            sent = 0
            while sent < len(messages):
                await asyncio.sleep(0.01)
                due = min(len(messages), int((time.monotonic() - t0) * rate))
                if due > sent:
                    await resp.write(b"".join(messages[sent:due]))
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
