"""CartesiaTTS (httpx + httpx-sse) against a local server speaking Cartesia's SSE."""

from __future__ import annotations

import logging

import pytest

from tests.voice.providers.provider_fakes.cartesia_server import FakeCartesia
from voice.audio import duration_ms
from voice.providers.base import ProviderError
from voice.providers.cartesia import CartesiaTTS

KEY = "cartesia-secret-key-42"


@pytest.fixture
async def fake():
    server = FakeCartesia(KEY)
    await server.start()
    yield server
    await server.close()


async def speak(tts: CartesiaTTS, text: str, rate: int) -> list[bytes]:
    try:
        return [c async for c in tts.synthesize(text, sample_rate=rate)]
    finally:
        await tts.aclose()


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
async def test_streams_raw_pcm_at_the_call_rate(fake, rate):
    tts = CartesiaTTS(KEY, voice_id="voice-123", url=fake.url, model="sonic-test", version="2024-06-10")
    chunks = await speak(tts, "Hello there", rate)
    assert len(chunks) >= 4 and all(len(c) % 2 == 0 for c in chunks)
    assert abs(duration_ms(sum(map(len, chunks)), rate) - 11 * 40) < 1
    headers, body = fake.requests[-1]
    assert headers["X-API-Key"] == KEY and headers["Cartesia-Version"] == "2024-06-10"
    assert body == {
        "model_id": "sonic-test",
        "transcript": "Hello there",
        "voice": {"mode": "id", "id": "voice-123"},
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": rate},
        "language": "en",
    }


@pytest.mark.parametrize(
    ("mode", "match"),
    [("http401", "HTTP 401: Invalid API key .*CARTESIA_API_KEY"), ("http400", "HTTP 400: invalid output_format"),
     ("error_event", "Cartesia error: voice not found"), ("cut", "Cartesia")],
)
async def test_failures_are_provider_errors_without_key(fake, mode, match, caplog):
    caplog.set_level(logging.DEBUG)
    fake.mode = mode
    with pytest.raises(ProviderError, match=match) as info:
        await speak(CartesiaTTS(KEY, url=fake.url), "Hello there", 16000)
    assert KEY not in str(info.value)
    assert KEY not in caplog.text


async def test_timeout(fake):
    fake.mode = "slow"
    with pytest.raises(ProviderError, match="timed out"):
        await speak(CartesiaTTS(KEY, url=fake.url, timeout_s=0.3), "Hi", 16000)


async def test_unreachable():
    with pytest.raises(ProviderError, match="request failed"):
        await speak(CartesiaTTS(KEY, url="http://127.0.0.1:9"), "Hi", 16000)


def test_config_checks_and_repr():
    assert KEY not in repr(CartesiaTTS(KEY))
    with pytest.raises(ProviderError):
        CartesiaTTS("")
    with pytest.raises(ProviderError):
        CartesiaTTS(KEY, url="api.cartesia.ai")
