"""End to end with the real offline providers: eSpeak NG speaks a question, pocketsphinx
hears it inside the bot, the scripted responder answers, eSpeak speaks the answer."""

from __future__ import annotations

import asyncio

import pytest

from tests.voice.core.harness import FAST, Bot, make_settings
from voice.bus import BotSentence, TranscriptEvent
from voice.clock import ScaledClock
from voice.server import BotServer

PACE = 0.004  # ~5x real time: the recogniser decodes faster than that


def _offline_providers(settings):
    from voice.providers.factory import build_providers

    providers = build_providers(settings)  # no keys in make_settings: the offline trio
    assert "pocketsphinx" in providers.description and "espeak" in providers.description
    return providers


async def _synth(text: str, rate: int) -> bytes:
    from voice.providers.local_tts import EspeakTTS

    return b"".join([pcm async for pcm in EspeakTTS().synthesize(text, sample_rate=rate)])


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_offline_bot_understands_a_spoken_question(rate):
    settings = make_settings(bot_sample_rate=rate, transfer_number="+919000000001")
    providers = _offline_providers(settings)
    server = BotServer(settings, providers=providers, clock=ScaledClock(10.0), options=FAST)
    await server.start()
    bot = Bot(server, providers)  # type: ignore[arg-type]
    sub = server.bus.subscribe()
    try:
        node = await bot.call(rate=rate, callid=f"offline-{rate}")
        await node.wait_count("playAudio", timeout=10)
        session = server.sessions[f"offline-{rate}"]
        await node.wait_for(lambda n: session.state == "listening", timeout=10, what="greeting played")
        question = await _synth("What are your opening hours?", rate)
        frame = 2 * rate // 50
        silence = bytes(frame)
        for _ in range(10):
            await node.ws.send(silence)
        for off in range(0, len(question), frame):
            await node.ws.send(question[off : off + frame])
            await asyncio.sleep(PACE)  # faster than real time
        for _ in range(60):
            await node.ws.send(silence)
            await asyncio.sleep(PACE)
        await node.wait_for(lambda n: len(session.history) >= 3, timeout=20, what="an answer")
        answer = session.history[2].content
        assert "Monday" in answer or "nine" in answer, answer  # the script's hours intent, not its fallback
        events = []
        events.extend(sub.drain())
        finals = [e.text for e in events if isinstance(e, TranscriptEvent) and e.final]
        assert finals and any(w in finals[0].lower() for w in ("hours", "open"))
        spoken = [e.text for e in events if isinstance(e, BotSentence) and e.turn == 1]
        assert spoken and " ".join(spoken) == answer
        assert {p.sample_rate for p in node.plays()} == {rate}
        await node.hang_up()
    finally:
        for n in bot.nodes:
            if n.reader is not None and not n.reader.done():
                await n.ws.close()
        await server.close()
