"""A tiny loopback stand-in for Knowlarity's stream and call log, for the stream's unit tests.

Deliberately independent of `sandbox/` (built in parallel by another helper): these tests
must pin the stream's own behaviour -- order, reconnect, dedupe, backfill -- with scripted
failures the full sandbox has no reason to offer (a 500 on the next connect, a replay of
old events on reconnect, a raw malformed line).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from console.api.dates import IST, format_api_datetime, parse_datetime

from .helpers import API_KEY, SR_KEY

_DROP = object()


class FakeKnowlarity:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.next_statuses: list[int] = []  # statuses for the next stream connects
        self.status_body: str = '{"message": "no"}'
        self.replay_on_connect: list[Any] = []
        self.calllog_requests: list[dict[str, Any]] = []
        self.connects = 0
        self._subscribers: list[asyncio.Queue[Any]] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/update-stream/{key}/konnect", self._stream)
        app.router.add_post("/{channel}/v1/account/sr/calllog", self._calllog)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stream_url(self, key: str = SR_KEY) -> str:
        return f"{self.base_url}/update-stream/{key}/konnect"

    # -- controls -------------------------------------------------------------------------------
    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def wait_subscribers(self, count: int, timeout: float = 5.0) -> None:
        async def _wait() -> None:
            while len(self._subscribers) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_wait(), timeout)

    def publish(self, message: dict[str, Any] | str) -> None:
        for queue in self._subscribers:
            queue.put_nowait(message)

    def drop(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(_DROP)

    # -- handlers -------------------------------------------------------------------------------
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self.connects += 1
        if request.match_info["key"] != SR_KEY:
            return web.Response(status=401, text=json.dumps(
                {"message": f"Invalid key {request.match_info['key']}"}), content_type="application/json")
        if self.next_statuses:
            return web.Response(status=self.next_statuses.pop(0), text=self.status_body,
                                content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for message in self.replay_on_connect:
            queue.put_nowait(message)
        self._subscribers.append(queue)
        self._changed.set()
        try:
            while True:
                message = await queue.get()
                if message is _DROP:
                    break
                data = message if isinstance(message, str) else json.dumps(message)
                await response.write(f"data: {data}\n\n".encode())
        finally:
            self._subscribers.remove(queue)
            self._changed.set()
        return response

    async def _calllog(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != SR_KEY or request.headers.get("x-api-key") != API_KEY:
            return web.json_response({"message": "The SR API Key used toauthenticate is incorrect."}, status=401)
        body = await request.json()
        self.calllog_requests.append(body)
        gt = parse_datetime(body["start_time__gt"]) if body.get("start_time__gt") else None
        lt = parse_datetime(body["start_time__lt"]) if body.get("start_time__lt") else None

        def keep(record: dict[str, Any]) -> bool:
            start = parse_datetime(record["start_time"])
            return (gt is None or start > gt) and (lt is None or start < lt)

        rows = sorted((r for r in self.records if keep(r)), key=lambda r: parse_datetime(r["start_time"]), reverse=True)
        offset = int(str(body.get("next") or "forward##0").split("##")[1])
        limit = int(body.get("limit") or 20)
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return web.json_response({
            "meta": {"total_count": None, "next": f"forward##{offset + limit}" if more else "",
                     "limit": limit, "previous": ""},
            "objects": page,
        })


def record(uuid: str, start: datetime, *, agent: str = "+919000000001", customer: str = "+919800000002",
           direction: str = "Inbound", duration: int = 42) -> dict[str, Any]:
    """A call-log record in the agreed field names, times as Knowlarity writes them (IST)."""
    return {
        "uuid": uuid, "ref_call_uuid": "", "start_time": format_api_datetime(start, IST),
        "end_time": format_api_datetime(start + timedelta(seconds=duration), IST),
        "customer_number": customer, "agent_number": agent, "knowlarity_number": "+918047100100",
        "solution_type": "IBD", "call_direction": direction, "call_status": "Connected",
        "agent_status": "Answered", "customer_status": "Answered", "destination": agent,
        "duration": duration, "disposition": "", "action": "", "agent_device": "Phone",
        "campaign_id": "", "recording_url": f"https://rec.example/{uuid}.mp3", "business_call_type": "Phone",
    }


def event(uuid: str, event_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "business_call_type": "Inbound", "agent_number": "+919000000001", "call_recording": None,
        "uuid": uuid, "customer_number": "+919800000002", "knowlarity_number": "+918047100100",
        "event_type": event_type, "call_direction": "Inbound", **extra,
    }


def cdr(uuid: str, **extra: Any) -> dict[str, Any]:
    return {
        "dispnumber": "+918047100100", "business_call_type": "Phone", "caller_id": "+919800000002",
        "Call_Type": "Incoming", "start_time": "2024-05-01 10:00:00+05:30", "uuid": uuid,
        "call_duration": 29, "destination": "+919000000001", "end_time": "2024-05-01 10:00:29+05:30",
        "resource_url": "", "type": "CDR", "timezone_offset": "+0530", **extra,
    }
