"""OpenAITTS and OpenAISTT with the real `openai` client against a local fake OpenAI."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.voice.providers.provider_fakes.openai_server import FakeOpenAI
from voice.audio import duration_ms
from voice.providers.base import ProviderError
from voice.providers.openai_speech import OpenAISTT, OpenAITTS

KEY = "sk-speech-secret-0123456789"


@pytest.fixture
async def fake():
    server = FakeOpenAI(KEY)
    await server.start()
    yield server
    await server.close()


def speechlike(rate: int, ms: int) -> bytes:
    """Voiced-sounding audio (a buzz with harmonics) that WebRTC VAD accepts as speech."""
    t = np.arange(rate * ms // 1000) / rate
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return (x / np.max(np.abs(x)) * 9000).astype(np.int16).tobytes()


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
async def test_tts_streams_pcm_resampled_to_the_call_rate(fake, rate):
    fake.speech_ms_per_char = 50
    tts = OpenAITTS(KEY, base_url=fake.base_url, model="tts-test", voice="nova")
    chunks = [c async for c in tts.synthesize("Twenty chars of text", sample_rate=rate)]
    assert len(chunks) > 3, "audio streams in pieces"
    total = sum(len(c) for c in chunks)
    assert abs(duration_ms(total, rate) - 20 * 50) < 20
    req = fake.requests[-1]
    assert req == {"model": "tts-test", "voice": "nova", "input": "Twenty chars of text", "response_format": "pcm"}


async def test_tts_errors_are_provider_errors_without_key(fake):
    fake.mode = "error500"
    with pytest.raises(ProviderError, match="OpenAI speech answered HTTP 500"):
        _ = [c async for c in OpenAITTS(KEY, base_url=fake.base_url).synthesize("hi", sample_rate=16000)]
    fake.mode = "ok"
    with pytest.raises(ProviderError, match="HTTP 401") as info:
        _ = [c async for c in OpenAITTS("sk-bad-0000000000000", base_url=fake.base_url).synthesize("hi", sample_rate=16000)]
    assert "sk-bad-0000000000000" not in str(info.value)


async def test_tts_cut_mid_stream_raises(fake):
    fake.mode = "cut"
    with pytest.raises(ProviderError):
        _ = [c async for c in OpenAITTS(KEY, base_url=fake.base_url).synthesize("a long sentence here", sample_rate=16000)]


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_stt_sends_each_utterance_as_wav_and_returns_finals(fake, rate):
    fake.transcripts = ["what are your opening hours", "goodbye"]
    stt = OpenAISTT(KEY, base_url=fake.base_url, model="stt-test")
    stream = await stt.open(sample_rate=rate, call_id="o1")
    quiet = bytes(rate * 2 // 2)  # 500 ms
    audio = quiet + speechlike(rate, 900) + bytes(rate * 2) + speechlike(rate, 500) + bytes(rate * 2)
    frame = rate // 50 * 2
    for i in range(0, len(audio), frame):
        await stream.send(audio[i : i + frame])
    await stream.close()
    finals = [t async for t in stream.results()]
    assert [t.text for t in finals] == ["what are your opening hours", "goodbye"]
    assert all(t.final and t.speech_final for t in finals)
    assert [u[:2] for u in fake.uploads] == [(16000, 1), (16000, 1)]
    first_ms = fake.uploads[0][2] / 16
    assert 900 <= first_ms <= 900 + 300 + 700, "the utterance with its pre-roll and trailing silence"
    assert fake.requests[-1]["model"] == "stt-test"


async def test_stt_ignores_clicks_and_silence(fake):
    stream = await OpenAISTT(KEY, base_url=fake.base_url).open(sample_rate=16000, call_id="o2")
    await stream.send(bytes(32000) + speechlike(16000, 60) + bytes(32000))
    await stream.close()
    assert [t async for t in stream.results()] == []
    assert fake.uploads == []


async def test_stt_auth_failure_surfaces_once(fake):
    stream = await OpenAISTT("sk-nope-1234567890123", base_url=fake.base_url).open(sample_rate=16000, call_id="o3")
    await stream.send(speechlike(16000, 600) + bytes(32000))
    with pytest.raises(ProviderError, match="HTTP 401") as info:
        async for _ in stream.results():
            pass
    assert "sk-nope-1234567890123" not in str(info.value)
    await stream.close()


async def test_stt_server_error_drops_only_that_utterance(fake):
    stream = await OpenAISTT(KEY, base_url=fake.base_url).open(sample_rate=16000, call_id="o4")
    fake.mode = "error500"
    await stream.send(speechlike(16000, 600) + bytes(32000))
    await asyncio.sleep(0.2)
    fake.mode = "ok"
    fake.transcripts = ["still here"]
    await stream.send(speechlike(16000, 600) + bytes(32000))
    await stream.close()
    assert [t.text async for t in stream.results()] == ["still here"]
