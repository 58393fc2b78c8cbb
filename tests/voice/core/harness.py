"""The bot-core test harness: a BotServer on loopback with fake providers (`Bot`), and a
minimal Stream Node client (`StreamNode`) that records every event the bot sends, in
order, with its arrival time. The `bot_factory` fixture (conftest.py) starts them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.voice.core.core_fakes import FakeProviders, silence
from voice import protocol
from voice.config import BotSettings
from voice.server import BotServer
from voice.session import SessionOptions

FAST = SessionOptions(stall_timeout_s=3.0, resume_after_s=1.0, lead_ms=500, utterance_gap_s=0.3, close_grace_s=1.0)


def make_settings(**overrides: Any) -> BotSettings:
    base: dict[str, Any] = {"bot_host": "127.0.0.1", "bot_port": 0, "greeting": "Hello! How can I help you today?"}
    base.update(overrides)
    return BotSettings(_env_file=None, **base)  # type: ignore[call-arg]


@dataclass
class Received:
    at: float
    event: protocol.BotEvent


@dataclass
class StreamNode:
    """A test double of Knowlarity's Stream Node: one call's socket."""

    ws: ClientConnection
    rate: int
    events: list[Received] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None
    t0: float = 0.0
    errors: list[str] = field(default_factory=list)

    async def read(self) -> None:
        try:
            async for msg in self.ws:
                try:
                    ev = protocol.parse_bot_event(msg)
                except protocol.ProtocolError as exc:
                    self.errors.append(str(exc))
                    continue
                self.events.append(Received(time.monotonic(), ev))
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def kinds(self) -> list[str]:
        return [r.event.type for r in self.events]

    def plays(self) -> list[protocol.PlayAudio]:
        return [r.event for r in self.events if isinstance(r.event, protocol.PlayAudio)]

    def count(self, kind: str) -> int:
        return sum(1 for r in self.events if r.event.type == kind)

    async def wait_for(self, pred: Callable[[StreamNode], bool], timeout: float = 5.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not pred(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.kinds()}")
            await asyncio.sleep(0.005)

    async def wait_count(self, kind: str, n: int = 1, timeout: float = 5.0) -> None:
        await self.wait_for(lambda s: s.count(kind) >= n, timeout, f"{n} x {kind}")

    async def send_pcm(self, pcm: bytes, *, frame_ms: int = 20, pace: float = 0.0) -> None:
        """Send PCM in Stream Node-sized frames; `pace` seconds between frames (0 = burst)."""
        step = 2 * int(self.rate * frame_ms / 1000)
        for off in range(0, len(pcm), step):
            await self.ws.send(pcm[off : off + step])
            await asyncio.sleep(pace)

    async def say(self, speech: bytes, *, tail_ms: int = 400, pace: float = 0.0) -> None:
        await self.send_pcm(speech + silence(self.rate, tail_ms), pace=pace)

    async def hang_up(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 5)


@dataclass
class Bot:
    server: BotServer
    providers: FakeProviders
    nodes: list[StreamNode] = field(default_factory=list)

    def url(self, *, rate: int | None = None, token: str | None = None, path: str | None = None) -> str:
        url = self.server.url if path is None else self.server.url.rsplit("/", 1)[0] + path
        q = []
        if rate is not None:
            q.append(f"sample_rate={rate}")
        if token is not None:
            q.append(f"token={token}")
        return url + ("?" + "&".join(q) if q else "")

    async def call(
        self, *, rate: int | None = None, token: str | None = None, callid: str = "call-1",
        metadata: str | None = None, python_style: bool = True, url: str | None = None, **connect_kw: Any,
    ) -> StreamNode:
        ws = await connect(url or self.url(rate=rate, token=token), compression=None, **connect_kw)
        node = StreamNode(ws=ws, rate=rate or self.server.settings.bot_sample_rate)
        node.reader = asyncio.create_task(node.read())
        node.t0 = time.monotonic()
        if metadata is None:
            meta = protocol.CallMetadata(callid=callid, virtual_number="+911234567890", customer_number="+919876543210")
            metadata = protocol.encode_metadata(meta, python_style=python_style)
        await ws.send(metadata)
        self.nodes.append(node)
        return node


def json_frames(raw: list[str]) -> list[dict[str, Any]]:
    return [json.loads(r) for r in raw]
