"""Pieces the fleet tests share: a bot worker in this process, a caller that stays on the
line, and a console-side reader that collects what a FleetWatcher yields."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.instant import InstantProviders
from console.fleetwatch import FleetWatcher
from console.state import FeedStatus
from voice.bus import MonitorEvent
from voice.config import BotSettings
from voice.fleet.publisher import FleetPublisher
from voice.protocol import CallMetadata, encode_metadata
from voice.server import BotServer
from voice.session import SessionOptions

RATE = 16000
FRAME = RATE * 2 * 20 // 1000
FAST = SessionOptions(stall_timeout_s=3.0, resume_after_s=1.0, lead_ms=500, utterance_gap_s=0.3, close_grace_s=1.0)


def tone_frame(i: int, amp: float = 0.3) -> bytes:
    import numpy as np

    t = (np.arange(FRAME // 2) + i * (FRAME // 2)) / RATE
    return (np.sin(2 * math.pi * 180 * t) * amp * 32767).astype("<i2").tobytes()


SILENCE = b"\x00" * FRAME


@dataclass
class Worker:
    server: BotServer
    publisher: FleetPublisher

    async def close(self) -> None:
        await self.server.close()
        await self.publisher.close()


async def start_worker(url: str, worker_id: str, **publisher_kw: Any) -> Worker:
    settings = BotSettings(_env_file=None, bot_host="127.0.0.1", bot_port=0,  # type: ignore[call-arg]
                           greeting="Hello! How can I help?", transfer_number="+919999900000")
    server = BotServer(settings, providers=InstantProviders(), options=FAST, prerender=False)
    await server.start()
    publisher = FleetPublisher(server, url, worker_id=worker_id, heartbeat_s=0.25, **publisher_kw)
    await publisher.start()
    return Worker(server, publisher)


@dataclass
class Caller:
    """One Stream Node call that stays on the line: silence, and an utterance when asked."""

    ws: ClientConnection
    callid: str
    frames: list[bytes] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    reader: asyncio.Task[None] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def speak(self, ms: int = 400) -> None:
        n = ms // 20
        self.frames.extend(tone_frame(i) for i in range(n))

    async def pump(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                await self.ws.send(self.frames.pop(0) if self.frames else SILENCE)
                await asyncio.sleep(0.02)

    async def read(self) -> None:
        with contextlib.suppress(Exception):
            async for msg in self.ws:
                if isinstance(msg, str):
                    self.received.append(msg)
        self.closed.set()

    async def hang_up(self) -> None:
        if self.task is not None:
            self.task.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.closed.set()


async def call(url: str, callid: str) -> Caller:
    ws = await connect(url)
    await ws.send(encode_metadata(CallMetadata(callid=callid, virtual_number="+918000000000",
                                               customer_number="+919812345678")))
    caller = Caller(ws, callid)
    caller.task = asyncio.create_task(caller.pump())
    caller.reader = asyncio.create_task(caller.read())
    return caller


@dataclass
class Console:
    """What a supervisor's console would have received from the fleet."""

    watcher: FleetWatcher
    events: list[MonitorEvent] = field(default_factory=list)
    states: list[FeedStatus] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def follow(self) -> None:
        async for event in self.watcher.events(self.states.append):
            self.events.append(event)

    def of(self, kind: str, call_id: str | None = None) -> list[Any]:
        return [e for e in self.events if e.kind == kind and (call_id is None or e.call_id == call_id)]

    async def wait_for(self, pred: Callable[[], Any], timeout: float = 20.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            value = pred()
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out; saw {[(e.kind, e.call_id) for e in self.events][-20:]} states {self.states[-3:]} task {self.task}")

    async def close(self) -> None:
        await self.watcher.aclose()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def watch(url: str, **kw: Any) -> Console:
    """A console following the fleet (use `await watch_live(...)` to wait until it follows)."""
    console = Console(FleetWatcher(url, **kw))
    console.task = asyncio.create_task(console.follow())
    return console


async def watch_live(url: str, **kw: Any) -> Console:
    console = watch(url, **kw)
    await console.wait_for(lambda: console.states and console.states[-1].status == "live")
    return console
