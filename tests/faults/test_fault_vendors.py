"""Vendor failures under a live call, with the bot built exactly as `kconsole bot` builds it
from keys in the environment (voice.providers.factory.build_providers): Deepgram STT,
OpenAI LLM and Cartesia TTS (with the offline eSpeak voice as its fallback), each pointed at
a fake server speaking that vendor's wire protocol on loopback. The caller is the Stream
Node emulator, speaking lines the fake Deepgram "recognises" by loudness.

- The LLM answers 500, or hangs -> the caller hears a short apology, speaks again, and gets
  an answer: the call goes on.
- Cartesia refuses or breaks mid-sentence -> the answer is spoken by the offline voice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from tests.faults.faults_support import bot_settings, eventually
from tests.voice.providers.provider_fakes.cartesia_server import FakeCartesia
from tests.voice.providers.provider_fakes.deepgram_server import FakeDeepgram
from tests.voice.providers.provider_fakes.openai_server import FakeOpenAI
from voice.bus import BotSentence
from voice.caller import Caller, Turn
from voice.clock import ScaledClock
from voice.providers.factory import build_providers
from voice.server import BotServer
from voice.session import SessionOptions

RATE = 16000
SPEED = 5.0
DG_KEY, OA_KEY, CA_KEY = "dg-key-faults-0001", "sk-faults-0002", "ca-key-faults-0003"
WORDS = {4000: "what are your opening hours", 8000: "how much does it cost"}
REPLY = "We are open from nine to six."
OPTIONS = SessionOptions(stall_timeout_s=4.0, resume_after_s=1.0, lead_ms=400, utterance_gap_s=0.3, close_grace_s=0.5)


class FlakyOpenAI(FakeOpenAI):
    """The first `fail` chat requests fail with `how` ("500" or "hang"); then it answers."""

    def __init__(self, api_key: str, *, fail: int, how: str) -> None:
        super().__init__(api_key)
        self.fail, self.how = fail, how
        self.reply = REPLY

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if self.fail > 0:
            self.fail -= 1
            self.requests.append({"failed": self.how})
            if self.how == "500":
                return web.json_response({"error": {"message": "The server had an error", "type": "server_error"}},
                                         status=500)
            await asyncio.sleep(30)  # a hung request: only the bot's watchdog ends this turn
        return await super()._chat(request)


@dataclass
class Vendors:
    deepgram: FakeDeepgram
    openai: FakeOpenAI
    cartesia: FakeCartesia
    server: BotServer
    said: list[BotSentence]


def burst(amp: int, ms: int) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.int16).tobytes()


async def start_vendors(openai: FakeOpenAI) -> Vendors:
    deepgram, cartesia = FakeDeepgram(DG_KEY, WORDS), FakeCartesia(CA_KEY)
    for fake in (deepgram, openai, cartesia):
        await fake.start()
    settings = bot_settings(
        greeting="Hello.", deepgram_api_key=DG_KEY, deepgram_url=deepgram.url, openai_api_key=OA_KEY,
        openai_base_url=openai.base_url, cartesia_api_key=CA_KEY, cartesia_url=cartesia.url,
        cartesia_voice_id="voice-1",
    )
    providers = build_providers(settings)
    assert (providers.stt.name, providers.tts.name) == ("deepgram", "cartesia"), providers.description
    server = BotServer(settings, providers=providers, clock=ScaledClock(SPEED), options=OPTIONS)
    await server.start()
    said: list[BotSentence] = []
    server.bus.publish = _tap(server.bus.publish, said)  # type: ignore[method-assign]
    return Vendors(deepgram, openai, cartesia, server, said)


def _tap(publish: Any, said: list[BotSentence]) -> Any:
    def tapped(event: Any) -> None:
        if isinstance(event, BotSentence) and event.heard is None:
            said.append(event)
        publish(event)

    return tapped


@pytest.fixture
async def vendors_factory() -> AsyncIterator[Any]:
    started: list[Vendors] = []

    async def make(openai: FakeOpenAI) -> Vendors:
        v = await start_vendors(openai)
        started.append(v)
        return v

    yield make
    for v in started:
        await v.server.close()
        await v.server.providers.aclose()
        for fake in (v.deepgram, v.openai, v.cartesia):
            await fake.close()


def caller(v: Vendors) -> Caller:
    return Caller(v.server.url, speed=SPEED, bot_speed=SPEED, quiet_gap_ms=300, reply_timeout=8)


LINES = [Turn(audio=burst(4000, 500), label="opening hours"), Turn(audio=burst(8000, 500), label="prices")]


@pytest.mark.parametrize("how", ["500", "hang"])
async def test_llm_failure_gets_an_apology_and_the_caller_can_try_again(vendors_factory, how: str) -> None:
    v = await vendors_factory(FlakyOpenAI(OA_KEY, fail=1, how=how))
    report = await caller(v).run(LINES)
    assert report.outcome == "completed", report.describe_outcome()
    assert [t.first_audio_ms is not None for t in report.turns] == [True, True], "each line heard an answer"
    texts = [s.text for s in v.said]
    apology = OPTIONS.apology
    assert texts[0] == "Hello."
    assert texts[1] == apology, texts
    assert texts[2:] == ["We are open from nine to six."], texts
    assert len(v.openai.requests) == 2  # one failed try, one answer: the bot never retried behind the caller's back
    await eventually(lambda: not v.server.sessions, what="the call to end cleanly")


@pytest.mark.parametrize("mode", ["http400", "cut"])
async def test_tts_failure_falls_back_to_the_offline_voice(vendors_factory, mode: str) -> None:
    v = await vendors_factory(FlakyOpenAI(OA_KEY, fail=0, how="500"))
    v.cartesia.mode = mode  # after start-up: the greeting was rendered by Cartesia, the answer cannot be
    report = await caller(v).run(LINES[:1])
    assert report.outcome == "completed", report.describe_outcome()
    assert report.turns[0].first_audio_ms is not None
    assert [s.text for s in v.said][1:] == [REPLY]
    answer = report.replies[-1].pcm
    assert len(answer) / 2 / RATE > 0.8, "the whole sentence was spoken"
    assert v.cartesia.requests, "Cartesia was asked first"
    # The offline voice is speech, not the fake Cartesia's 300 Hz tone.
    x = np.frombuffer(answer, dtype=np.int16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    tone_share = spectrum[(freqs > 290) & (freqs < 310)].sum() / spectrum.sum()
    assert tone_share < 0.3, f"the answer sounds like Cartesia's tone ({tone_share:.0%} at 300 Hz)"
