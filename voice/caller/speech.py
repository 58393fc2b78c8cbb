"""The caller's voice and ears for text: the TTS that renders `Turn.say`, the
transcriber that turns bot replies into text, and the speaker seam (`AudioSink`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from voice.audio import chunk_bytes
from voice.caller.options import FRAME_MS


class AudioSink(Protocol):
    """Where heard bot audio goes (a voice.sound.Player, or anything with these two)."""

    def write(self, pcm: bytes) -> None: ...

    def clear(self) -> None: ...


class SpeechSynth(Protocol):
    """What renders `Turn.say` (voice.providers' TTSProvider shape)."""

    def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]: ...


Transcriber = Callable[[bytes, int], Awaitable[str]]


def default_tts() -> SpeechSynth:
    """The offline TTS the bot uses too (eSpeak NG, shipped with its data)."""
    from voice.providers.local_tts import EspeakTTS  # noqa: PLC0415 - loads a C library; only when needed

    return EspeakTTS()


def stt_transcriber(stt: Any) -> Transcriber:
    """Adapt an STTProvider (e.g. PocketsphinxSTT) into a whole-buffer transcriber.

    The audio is fed in 20 ms frames followed by a second of silence, so an
    endpointing recogniser finalises the last words; finals are joined.
    """

    async def transcribe(pcm: bytes, sample_rate: int) -> str:
        stream = await stt.open(sample_rate=sample_rate, call_id="kconsole-call-transcript")
        finals: list[str] = []

        async def collect() -> None:
            async for result in stream.results():
                if result.final and result.text.strip():
                    finals.append(result.text.strip())

        collector = asyncio.create_task(collect())
        try:
            step = chunk_bytes(sample_rate, FRAME_MS)
            padded = pcm + bytes(chunk_bytes(sample_rate, 1000))
            for off in range(0, len(padded), step):
                await stream.send(padded[off : off + step])
        finally:
            await stream.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await asyncio.shield(collector)
            if not collector.done():
                collector.cancel()
        return " ".join(finals)

    return transcribe


async def render_speech(tts: SpeechSynth, text: str, sample_rate: int) -> bytes:
    """All of `text` as PCM at `sample_rate`."""
    out = bytearray()
    async for chunk in tts.synthesize(text, sample_rate=sample_rate):
        out += chunk
    return bytes(out[: len(out) - len(out) % 2])
