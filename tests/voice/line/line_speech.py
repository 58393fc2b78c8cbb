"""Speech for the phone-line tests: the bot's voice and a caller's, synthesised offline.

A helper module (tests.voice.line.line_speech), imported by the tests that need it."""

from __future__ import annotations

import asyncio
import functools

from voice.providers.local_tts import EspeakTTS

BOT_TEXT = ("Hello and thank you for calling Acme. Our opening hours are nine to five, Monday to Friday, "
            "and ten to two on Saturdays. You can ask me about prices.")


def synth(text: str, rate: int, pitch: int) -> bytes:
    async def run() -> bytes:
        return b"".join([pcm async for pcm in EspeakTTS(pitch=pitch).synthesize(text, sample_rate=rate)])
    return asyncio.run(run())


@functools.cache
def rendered_speech() -> dict[tuple[str, int], bytes]:
    """Rendered once per test run; each module wraps it in its own `speech` fixture."""
    out: dict[tuple[str, int], bytes] = {}
    for rate in (8000, 16000):
        out[("bot", rate)] = synth(BOT_TEXT, rate, 50)
        out[("caller", rate)] = synth("I want to speak to a person.", rate, 80)
    return out
