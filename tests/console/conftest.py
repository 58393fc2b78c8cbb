"""Console test helpers: build the app against the real sandbox (or given doubles)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio

from console.api.client import KnowlarityClient
from console.app import ConsoleApp, ConsoleDeps, build_app
from console.launch import make_stream_factory, sandbox_settings
from sandbox.server import SandboxServer

SIZE = (140, 45)


def settings_for(sandbox: SandboxServer, **overrides: Any):
    args = argparse.Namespace(sr_key=None, api_key=None, channel=None, agent=None, k_number=None)
    for key, value in overrides.items():
        setattr(args, key, value)
    return sandbox_settings(sandbox.base_url, args)


ConsoleFactory = Callable[..., ConsoleApp]


@pytest_asyncio.fixture
async def console_factory(sandbox: SandboxServer) -> AsyncIterator[ConsoleFactory]:
    """`console_factory(stream=True, bot=None, agent=None, **deps)` -> a ConsoleApp on the sandbox."""
    clients: list[KnowlarityClient] = []

    def make(*, stream: bool = True, bot: Any = None, agent: str | None = None, **kwargs: Any) -> ConsoleApp:
        settings = settings_for(sandbox, agent=agent)
        client = KnowlarityClient.from_settings(settings)
        clients.append(client)
        deps = ConsoleDeps(
            client=client,
            settings=settings,
            stream_factory=make_stream_factory(settings, client) if stream else None,
            bot=bot,
            source="sandbox",
            **kwargs,
        )
        return build_app(deps)

    yield make
    for client in clients:
        await client.aclose()


async def wait_for(predicate: Callable[[], bool], pilot: Any = None, timeout: float = 5.0, step: float = 0.05) -> None:
    """Poll until `predicate()` holds (letting the app run); fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        if pilot is not None:
            await pilot.pause(step)
        else:
            await asyncio.sleep(step)


async def until(pilot: Any, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    await wait_for(predicate, pilot, timeout)


Awaiter = Callable[[], Awaitable[None]]


def count_plans(sandbox: SandboxServer) -> list[Any]:
    """Wrap the sandbox's call engine: every call it starts is recorded (server side)."""
    started: list[Any] = []
    original = sandbox.engine.start

    def start(plan: Any) -> Any:
        started.append(plan)
        return original(plan)

    sandbox.engine.start = start  # type: ignore[method-assign]
    return started
