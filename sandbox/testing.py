"""pytest fixtures for the sandbox, and a small raw-SSE recorder for tests.

Registered for the whole suite by tests/conftest.py (`pytest_plugins = ["sandbox.testing"]`):

- `sandbox`: a started `SandboxServer` on 127.0.0.1, an ephemeral port, default keys,
  seed 7, no background traffic, and speed `FAST_SPEED` so a whole call lifecycle
  (events, CDR, call-log record) completes in a few tens of milliseconds.
- `sandbox_factory`: `await sandbox_factory(**kwargs)` starts one with other settings
  (speed, traffic_rate, keys, seed, keepalive, history); all are closed at teardown.

`StreamRecorder(url)` subscribes to the live stream (raw HTTP, no project client) and
keeps every event; `async with` returns once the server has accepted the subscription,
so nothing published afterwards can be missed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest_asyncio

from sandbox.server import SandboxServer

FAST_SPEED = 5000.0

SandboxFactory = Callable[..., Awaitable[SandboxServer]]


@pytest_asyncio.fixture
async def sandbox_factory() -> AsyncIterator[SandboxFactory]:
    servers: list[SandboxServer] = []

    async def start(**kwargs: Any) -> SandboxServer:
        kwargs.setdefault("speed", FAST_SPEED)
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("port", 0)
        server = SandboxServer(**kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        await server.close()


@pytest_asyncio.fixture
async def sandbox(sandbox_factory: SandboxFactory) -> SandboxServer:
    return await sandbox_factory()


class StreamRecorder:
    """Collects a stream's events in the background; see the module docstring."""

    def __init__(self, url: str, *, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.comments = 0
        self.closed_reason: str | None = None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))
        self._own_client = client is None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._changed = asyncio.Event()

    async def __aenter__(self) -> StreamRecorder:
        self._task = asyncio.get_running_loop().create_task(self._read())
        waiter = asyncio.ensure_future(self._connected.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self._task in done:
                self._task.result()
            raise TimeoutError(f"stream did not connect: {self.closed_reason}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._own_client:
            await self._client.aclose()

    async def _read(self) -> None:
        try:
            async with self._client.stream("GET", self.url) as response:
                if response.status_code != 200:
                    await response.aread()
                    self.closed_reason = f"HTTP {response.status_code}: {response.text}"
                    raise RuntimeError(self.closed_reason)
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        self.comments += 1
                        self._connected.set()
                    elif line.startswith("data:"):
                        self.events.append(json.loads(line[5:].strip()))
                        self._changed.set()
            self.closed_reason = "ended"
        except httpx.HTTPError as exc:
            self.closed_reason = f"{type(exc).__name__}: {exc}"
        finally:
            self._changed.set()

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def for_call(self, call_uuid: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("uuid") == call_uuid]

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first event (already seen or arriving within `timeout`) matching `predicate`."""
        seen = 0

        async def scan() -> dict[str, Any]:
            nonlocal seen
            while True:
                while seen < len(self.events):
                    event = self.events[seen]
                    seen += 1
                    if predicate(event):
                        return event
                if self.done:
                    raise RuntimeError(f"stream closed before the event came: {self.closed_reason}")
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_closed(self, timeout: float = 5.0) -> str | None:
        if self._task is not None:
            await asyncio.wait_for(asyncio.gather(self._task, return_exceptions=True), timeout)
        return self.closed_reason
