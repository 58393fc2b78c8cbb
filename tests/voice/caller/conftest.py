"""Fixtures for the caller's tests: fake bots on loopback (see caller_fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from caller_fakes import FakeBot, ThreadedFakeBot, ToneTTS


@pytest.fixture
async def fake_bot() -> AsyncIterator[Any]:
    """A factory: `bot = await fake_bot(**options)`; every bot is closed after the test."""
    bots: list[FakeBot] = []

    async def start(**options: Any) -> FakeBot:
        bot = await FakeBot(**options).start()
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        await bot.close()


@pytest.fixture
def threaded_bot() -> Iterator[Any]:
    bots: list[ThreadedFakeBot] = []

    def start(**options: Any) -> FakeBot:
        tb = ThreadedFakeBot(**options)
        bots.append(tb)
        return tb.__enter__()

    yield start
    for tb in bots:
        tb.__exit__(None, None, None)


@pytest.fixture
def tone_tts() -> ToneTTS:
    return ToneTTS()
