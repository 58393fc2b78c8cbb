"""Fixtures for the bot-core tests (the harness itself is tests.voice.core.harness)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS
from tests.voice.core.harness import FAST, Bot, make_settings
from voice.clock import Clock, ScaledClock
from voice.server import BotServer
from voice.session import SessionOptions


@pytest.fixture
async def bot_factory() -> AsyncIterator[Callable[..., Any]]:
    """`bot = await bot_factory(providers=..., options=..., clock=..., **settings)`."""
    started: list[Bot] = []

    async def start(
        *, providers: FakeProviders | None = None, options: SessionOptions | None = None,
        clock: Clock | None = None, server_kw: dict[str, Any] | None = None, **settings: Any,
    ) -> Bot:
        prov = providers or FakeProviders(stt=FakeSTT(), llm=FakeLLM(), tts=FakeTTS())
        server = BotServer(
            make_settings(**settings), providers=prov, clock=clock or ScaledClock(10.0),  # type: ignore[arg-type]
            options=options or FAST, **(server_kw or {}),
        )
        await server.start()
        bot = Bot(server, prov)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        for node in bot.nodes:
            if node.reader is not None and not node.reader.done():
                await node.ws.close()
                await asyncio.gather(node.reader, return_exceptions=True)
        await bot.server.close()
