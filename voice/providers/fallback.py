"""A TTS that falls back to a backup voice, sentence by sentence: the one failover.

The bot session speaks every sentence through one of these (one per reply, `sticky`),
and so can any code that speaks through one `TTSProvider`.

Semantics, per `synthesize` call (one sentence):
- the main voice fails before any audio (or produces none): the backup speaks the
  whole sentence;
- it fails after some audio was yielded: the backup speaks the whole sentence again
  from the start. The listener hears a restart in another voice — better than a
  sentence cut off mid-word, and there is no way to know which words were heard;
- every voice fails (or there is no backup): a ProviderError naming the last failure.
With `sticky`, once the main voice has failed the later sentences go straight to the
backup: a reply does not flip between two voices, and a dead vendor costs one
failure per reply, not one per sentence. The first failure is logged as a warning,
later ones at debug level, so a dead vendor does not flood the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from voice.audio import duration_ms
from voice.providers.base import ProviderError, TTSProvider

log = logging.getLogger("voice.providers.fallback")

LoggerFor = Callable[[str], "logging.Logger | logging.LoggerAdapter[Any]"]


def _name(tts: TTSProvider, default: str) -> str:
    return str(getattr(tts, "name", default))


class FallbackTTS:
    """`TTSProvider`: `main`, and `backup` for any sentence `main` fails on.

    `logger_for(voice_name)` picks the logger a voice's lines go to (the session logs
    each provider under its own component); by default this module's logger.
    """

    def __init__(
        self,
        main: TTSProvider,
        backup: TTSProvider | None = None,
        *,
        sticky: bool = False,
        logger_for: LoggerFor | None = None,
    ) -> None:
        self.main = main
        self.backup = backup
        self.sticky = sticky
        self.name = _name(main, "tts") + (f"+{_name(backup, 'backup')}" if backup is not None else "")
        self.failures = 0
        self._logger_for = logger_for or (lambda _name: log)

    def _voices(self) -> list[TTSProvider]:
        if self.backup is None:
            return [self.main]
        if self.sticky and self.failures:
            return [self.backup]
        return [self.main, self.backup]

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        voices = self._voices()
        last: BaseException | None = None
        for voice in voices:
            name = _name(voice, "tts")
            produced = 0
            try:
                async with aclosing(voice.synthesize(text, sample_rate=sample_rate)) as stream:  # type: ignore[type-var]
                    async for pcm in stream:
                        if pcm:
                            produced += len(pcm)
                            yield pcm
                if produced:
                    self._logger_for(name).debug(
                        "synthesised %.0f ms for %r", duration_ms(produced, sample_rate), text[:40]
                    )
                    return
                last = ProviderError(f"{name} produced no audio")
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:  # noqa: BLE001 - any vendor failure means: try the next voice
                last = exc
            if voice is self.main:
                self.failures += 1
            then = "; speaking with the fallback voice" if voice is not voices[-1] else ""
            level = logging.WARNING if self.failures <= 1 or voice is not self.main else logging.DEBUG
            self._logger_for(name).log(
                level, "speech synthesis failed %s (%s)%s",
                "mid-sentence" if produced else "before any audio", last, then,
            )
        raise ProviderError(f"every voice failed: {last}")
