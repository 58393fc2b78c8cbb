"""FallbackTTS: the backup voice speaks any sentence the main voice fails on."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from voice.providers.base import ProviderError
from voice.providers.fallback import FallbackTTS


class Voice:
    def __init__(self, name: str, *, fail_after: int | None = None, chunks: int = 3) -> None:
        self.name = name
        self.fail_after = fail_after
        self.chunks = chunks
        self.calls = 0

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        self.calls += 1
        for i in range(self.chunks):
            if self.fail_after is not None and i >= self.fail_after:
                raise ProviderError(f"{self.name} is down")
            yield f"{self.name}{i}|".encode()


async def say(tts, text="Hello.") -> bytes:
    return b"".join([c async for c in tts.synthesize(text, sample_rate=16000)])


async def test_main_voice_when_it_works():
    tts = FallbackTTS(Voice("main"), Voice("backup"))
    assert await say(tts) == b"main0|main1|main2|"
    assert tts.name == "main+backup"


async def test_failure_before_audio_uses_backup_and_logs_once(caplog):
    caplog.set_level(logging.DEBUG)
    tts = FallbackTTS(Voice("main", fail_after=0), Voice("backup"))
    assert await say(tts) == b"backup0|backup1|backup2|"
    assert await say(tts) == b"backup0|backup1|backup2|"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "before any audio" in warnings[0].getMessage()
    assert tts.failures == 2


async def test_failure_mid_sentence_restarts_it_with_backup():
    tts = FallbackTTS(Voice("main", fail_after=1), Voice("backup"))
    assert await say(tts) == b"main0|backup0|backup1|backup2|"


async def test_silent_main_counts_as_failure():
    tts = FallbackTTS(Voice("main", chunks=0), Voice("backup", chunks=1))
    assert await say(tts) == b"backup0|"


async def test_both_failing_raises():
    tts = FallbackTTS(Voice("main", fail_after=0), Voice("backup", fail_after=0))
    with pytest.raises(ProviderError, match="backup is down"):
        await say(tts)
