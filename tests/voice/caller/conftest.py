"""Fixtures for the caller's tests: fake bots on loopback (see caller_fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.voice.caller.caller_fakes import FakeBot, ThreadedFakeBot, ToneTTS


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


class _NoPortAudio:
    """A meta-path finder that makes `import sounddevice` fail as it does without PortAudio."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


@pytest.fixture
def no_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a machine without PortAudio, whatever this one has."""
    import sys

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])


@pytest.fixture
def tone_voice(monkeypatch: pytest.MonkeyPatch) -> ToneTTS:
    """Make the CLI's default TTS the tone voice (no eSpeak needed)."""
    import voice.caller.speech

    tts = ToneTTS()
    monkeypatch.setattr(voice.caller.speech, "default_tts", lambda: tts)
    return tts
