"""Helpers of the fault suite: a fault-injecting HTTP proxy, a console on the sandbox, waits.

`FaultProxy` sits between the console's client and the real sandbox on loopback and, per
request path, answers from a plan: pass the request through, answer 500 without passing it
on, pass it on and *then* answer 500 (the server did the work and failed to say so), or pass
it on and hold the answer past the client's timeout. It counts what reaches it, so a test can
say from the server's side how often a request was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from typing import Any, Literal

import httpx
from aiohttp import web

from console.api.backoff import Backoff
from console.api.client import KnowlarityClient
from console.config import ConsoleSettings
from console.launch import sandbox_settings

Fault = Literal["pass", "500", "pass-then-500", "pass-then-hang", "hang"]


class FaultProxy:
    """`plan(path_part, *faults)`: the next requests whose path contains `path_part` get
    these faults in order, then pass. `hits[path_part]` counts requests seen per rule."""

    def __init__(self, upstream: str, *, hang_s: float = 3.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.hang_s = hang_s
        self.rules: dict[str, deque[Fault]] = defaultdict(deque)
        self.hits: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._http = httpx.AsyncClient(timeout=30)
        self.port = 0

    def plan(self, path_part: str, *faults: Fault) -> None:
        self.rules[path_part].extend(faults)
        self.hits.setdefault(path_part, 0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FaultProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._http.aclose()

    def _fault_for(self, path: str) -> tuple[str | None, Fault]:
        for part, faults in self.rules.items():
            if part in path:
                self.hits[part] += 1
                return part, (faults.popleft() if faults else "pass")
        return None, "pass"

    async def _forward(self, request: web.Request, rule: str | None) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        upstream = await self._http.request(request.method, self.upstream + request.path_qs, content=body,
                                            headers=headers)
        if rule is not None:
            self.forwarded[rule] += 1
        return web.Response(status=upstream.status_code, body=upstream.content,
                            content_type=upstream.headers.get("content-type", "application/json").split(";")[0])

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rule, fault = self._fault_for(request.path)
        if fault == "500":
            return web.json_response({"message": "Internal server error."}, status=500)
        if fault == "hang":
            await asyncio.sleep(self.hang_s)
            return web.json_response({"message": "too late"}, status=504)
        response = await self._forward(request, rule)
        if fault == "pass-then-500":
            return web.json_response({"message": "Internal server error."}, status=500)
        if fault == "pass-then-hang":
            await asyncio.sleep(self.hang_s)
        return response


def console_settings(base_url: str) -> ConsoleSettings:
    """Console settings for a sandbox (or a proxy in front of one) at `base_url`."""
    ns = argparse.Namespace(sr_key=None, api_key=None, channel=None, agent=None, k_number=None)
    return sandbox_settings(base_url, ns)


def fast_client(base_url: str, *, timeout: float = 0.5, retries: int = 3) -> KnowlarityClient:
    """The console's client with a short timeout and quick retries (the real ones, scaled)."""
    settings = console_settings(base_url)
    return KnowlarityClient.from_settings(settings, timeout=timeout, retries=retries,
                                          backoff=Backoff(base=0.02, factor=2.0, cap=0.1))


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


# ---- a bot on loopback with providers that count what touches them ---------------------------

import numpy as np  # noqa: E402 - grouped with the bot helpers below

from voice.config import BotSettings  # noqa: E402
from voice.providers.base import ChatMessage, TextDelta, ToolSpec, Transcript  # noqa: E402


def tone(rate: int, ms: float, freq: float = 440.0, amp: float = 0.25) -> bytes:
    t = np.arange(int(rate * ms / 1000)) / rate
    return (np.sin(2 * np.pi * freq * t) * amp * 32767).astype(np.int16).tobytes()


class CountingSTT:
    """Opens count; transcribes nothing unless a test pushes a final with `say()`."""

    name = "counting-stt"

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.queues: list[asyncio.Queue[Transcript | None]] = []

    async def open(self, *, sample_rate: int, call_id: str) -> Any:
        self.opened += 1
        q: asyncio.Queue[Transcript | None] = asyncio.Queue()
        self.queues.append(q)
        owner = self

        class Stream:
            async def send(self, pcm: bytes) -> None:
                return None

            async def results(self) -> Any:
                while (item := await q.get()) is not None:
                    yield item

            async def close(self) -> None:
                owner.closed += 1
                q.put_nowait(None)

        return Stream()

    def say(self, text: str) -> None:
        self.queues[-1].put_nowait(Transcript(text, final=True, speech_final=True))


class EchoLLM:
    name = "echo-llm"

    def __init__(self) -> None:
        self.requests = 0

    async def stream(self, messages: list[ChatMessage], tools: list[ToolSpec]) -> Any:
        self.requests += 1
        yield TextDelta(f"You said {messages[-1].content}.")


class ToneTTS:
    name = "tone-tts"

    def __init__(self, freq: float = 440.0, ms_per_char: float = 30.0) -> None:
        self.freq = freq
        self.ms_per_char = ms_per_char
        self.calls = 0

    async def synthesize(self, text: str, *, sample_rate: int) -> Any:
        self.calls += 1
        pcm = tone(sample_rate, max(200.0, len(text) * self.ms_per_char), self.freq)
        step = sample_rate * 2 // 50
        for off in range(0, len(pcm), step):
            yield pcm[off : off + step]


class Providers:
    """Shaped like voice.providers.factory.ProviderSet."""

    def __init__(self, stt: Any = None, llm: Any = None, tts: Any = None, fallback_tts: Any = None) -> None:
        self.stt = stt or CountingSTT()
        self.llm = llm or EchoLLM()
        self.tts = tts or ToneTTS()
        self.fallback_tts = fallback_tts
        self.description = "fault-suite providers"


def bot_settings(**overrides: Any) -> BotSettings:
    base: dict[str, Any] = {"bot_host": "127.0.0.1", "bot_port": 0, "greeting": "Hello, this is the bot."}
    base.update(overrides)
    return BotSettings(_env_file=None, **base)  # type: ignore[call-arg]


def open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


class RecordingLLM:
    """Echoes the caller; `slow` sentences come one every `gap` seconds; records cancels."""

    name = "recording-llm"

    def __init__(self, *, slow: int = 0, gap: float = 0.05) -> None:
        self.heard: list[str] = []
        self.slow = slow
        self.gap = gap
        self.cancelled = 0
        self.active = 0

    async def stream(self, messages: list[ChatMessage], tools: list[ToolSpec]) -> Any:
        self.heard.append(messages[-1].content)
        self.active += 1
        try:
            yield TextDelta(f"You said {messages[-1].content}. ")
            for i in range(self.slow):
                await asyncio.sleep(self.gap)
                yield TextDelta(f"Still looking, part {i}. ")
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
        finally:
            self.active -= 1


class SlowTTS(ToneTTS):
    """A tone voice that streams in real time-ish pieces, so a reply is in flight for a while."""

    def __init__(self, piece_delay: float = 0.02, **kw: Any) -> None:
        super().__init__(**kw)
        self.piece_delay = piece_delay
        self.active = 0

    async def synthesize(self, text: str, *, sample_rate: int) -> Any:
        self.active += 1
        try:
            async for pcm in super().synthesize(text, sample_rate=sample_rate):
                await asyncio.sleep(self.piece_delay)
                yield pcm
        finally:
            self.active -= 1
