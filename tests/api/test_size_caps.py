"""Size caps before any parsing: SSE lines and events, REST bodies; the tolerant parser off
the event loop.

Before: a 200 MB non-JSON `data:` line was read whole and given to the pure-Python lenient
parser on the event loop (35 s frozen); REST bodies took the same path with no cap.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from console.api import KnowlarityClient
from console.api.errors import ResponseFormatError
from console.api.lenient_json import LenientJSONError, aloads
from console.api.sse import Oversize, bounded_sse
from console.api.stream import LiveStream

EVENT = {"event_type": "ORIGINATE", "uuid": "after-the-flood", "call_direction": "Inbound",
         "customer_number": "+919811100001", "agent_number": "+919811100002"}


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(*parts: bytes, **kw: int) -> list[object]:
    return [e async for e in bounded_sse(chunks(*parts), **kw)]


async def test_events_are_decoded_across_chunks_and_line_endings() -> None:
    got = await collect(b"data: one\r", b"\n\r\n", b": keep-alive\n\nevent: x\nid: 7\ndata: a\ndata: b\n", b"\n",
                        b"data: three\r\rdata: four\n\n")
    assert [(e.event, e.data, e.id) for e in got] == [  # type: ignore[union-attr]
        ("message", "one", ""), ("x", "a\nb", "7"), ("message", "three", "7"), ("message", "four", "7")]


async def test_an_oversize_line_is_skipped_as_it_arrives_and_the_next_event_is_read() -> None:
    parts = [b"data: ", *([b"x" * 1000] * 50), b"\n\n", b"data: ok\n\n"]
    got = await collect(*parts, max_line=4096, max_event=8192)
    assert isinstance(got[0], Oversize) and got[0].size >= 50_000
    assert [e.data for e in got[1:]] == ["ok"]  # type: ignore[union-attr]


async def test_an_event_of_many_small_lines_past_the_event_cap_is_dropped() -> None:
    got = await collect(b"data: 0123456789\n" * 2000 + b"\n" + b"data: ok\n\n", max_line=4096, max_event=8192)
    assert isinstance(got[0], Oversize) and [e.data for e in got[1:]] == ["ok"]  # type: ignore[union-attr]


async def test_the_tolerant_parser_runs_off_the_loop_and_only_on_short_texts() -> None:
    assert await aloads('{city: "Pune", id:3, ok: True}') == {"city": "Pune", "id": 3, "ok": True}
    assert await aloads('{"a": 1}') == {"a": 1}
    with pytest.raises(LenientJSONError, match="too long"):
        await aloads("{a: " + "x" * 300_000, max_lenient=256 * 1024)


@pytest.fixture
async def hostile_server() -> AsyncIterator[str]:
    """A stream whose first message is a huge non-JSON line, and REST answers of 40 MB."""

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: {not json ")
        block = b"y" * (1024 * 1024)
        for _ in range(40):
            await response.write(block)
        await response.write(b"\n\n" + f"data: {json.dumps(EVENT)}\n\n".encode())
        await asyncio.sleep(30)
        return response

    async def rest(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"objects": [')
        for _ in range(40):
            await response.write(b'"' + b"z" * (1024 * 1024) + b'",')
        return response

    app = web.Application()
    app.router.add_get("/update-stream/{key}/konnect", stream)
    app.router.add_route("*", "/{tail:.*}", rest)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=0.2)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_40_mb_line_on_the_live_stream_is_dropped_and_the_loop_keeps_running(hostile_server: str) -> None:
    lag: list[float] = []

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            lag.append(loop.time() - t - 0.01)

    watcher = asyncio.create_task(probe())
    try:
        async with LiveStream(f"{hostile_server}/update-stream/k-123/konnect", backfill=False) as stream:
            async with asyncio.timeout(30):
                async for item in stream:
                    assert getattr(item, "uuid", None) == "after-the-flood"
                    break
            assert stream.stats.oversize == 1 and stream.stats.malformed == 1
    finally:
        watcher.cancel()
    assert max(lag, default=0) < 2.0  # before: frozen for the whole lenient parse (tens of seconds)


async def test_a_rest_body_past_the_cap_is_refused_unread(hostile_server: str) -> None:
    client = KnowlarityClient(base_url=hostile_server, sr_api_key="k1", api_key="k2", retries=0,
                              max_body_bytes=1024 * 1024)
    try:
        with pytest.raises(ResponseFormatError, match="larger than 1,048,576 bytes"):
            await client.list_agents()
    finally:
        await client.aclose()


async def test_a_body_within_the_cap_still_reads_leniently() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="[{id: 5, first_name: Asha, last_name: Rao, agent_status: Available,"
                                        " call_groups: [], callcenter_role: agent}]")

    client = KnowlarityClient(base_url="https://kpi.example", sr_api_key="k1", api_key="k2",
                              transport=httpx.MockTransport(answer))
    try:
        agents = await client.list_agents()
    finally:
        await client.aclose()
    assert agents[0].first_name == "Asha"
