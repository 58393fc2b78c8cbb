"""A TTS that falls back to a backup voice, sentence by sentence.

For code that speaks through one `TTSProvider` and has no failover of its own (the
bot session has its own chain over `ProviderSet.tts` and `.fallback_tts`, so the
factory does not wrap its TTS in this; the caller emulator and scripts do).

Semantics, per `synthesize` call (one sentence):
- the main voice fails before any audio: the backup speaks the whole sentence;
- it fails after some audio was yielded: the backup speaks the whole sentence again
  from the start. The listener hears a restart in another voice — better than a
  sentence cut off mid-word, and there is no way to know which words were heard;
- both fail: the backup's ProviderError is raised.
The first failure is logged as a warning, later ones at debug level, so a dead vendor
does not flood the log with one line per sentence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from voice.providers.base import ProviderError, TTSProvider

log = logging.getLogger("voice.providers.fallback")


class FallbackTTS:
    """`TTSProvider`: `main`, and `backup` for any sentence `main` fails on."""

    def __init__(self, main: TTSProvider, backup: TTSProvider) -> None:
        self.main = main
        self.backup = backup
        self.name = f"{getattr(main, 'name', 'tts')}+{getattr(backup, 'name', 'backup')}"
        self.failures = 0

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        produced = 0
        try:
            async with aclosing(self.main.synthesize(text, sample_rate=sample_rate)) as stream:  # type: ignore[type-var]
                async for pcm in stream:
                    produced += len(pcm)
                    yield pcm
            if produced:
                return
            error: BaseException = ProviderError(f"{getattr(self.main, 'name', 'tts')} produced no audio")
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:  # noqa: BLE001 - any vendor failure means: use the backup
            error = exc
        self.failures += 1
        level = logging.WARNING if self.failures == 1 else logging.DEBUG
        log.log(
            level,
            "[TTS] %s failed %s (%s); speaking with %s",
            getattr(self.main, "name", "tts"),
            "mid-sentence" if produced else "before any audio",
            error,
            getattr(self.backup, "name", "backup"),
        )
        async with aclosing(self.backup.synthesize(text, sample_rate=sample_rate)) as backup:  # type: ignore[type-var]
            async for pcm in backup:
                yield pcm
