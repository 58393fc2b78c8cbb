"""EspeakTTS: real eSpeak NG through ctypes, streamed at every Stream Node rate."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.voice.providers.provider_fakes.speech import synth
from voice.audio import duration_ms, rms_dbfs
from voice.providers import local_tts
from voice.providers.base import ProviderError
from voice.providers.local_tts import EspeakTTS

TEXT = "Hello! Thanks for calling Acme. How can I help you today?"


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 32000, 48000])
async def test_speaks_at_every_rate_in_pieces(rate):
    chunks = [c async for c in EspeakTTS().synthesize(TEXT, sample_rate=rate)]
    pcm = b"".join(chunks)
    assert len(chunks) > 10, "audio is streamed as produced, not returned in one piece"
    assert all(len(c) % 2 == 0 for c in chunks)
    assert 2500 < duration_ms(len(pcm), rate) < 6000
    assert rms_dbfs(pcm) > -35, "it is speech, not silence"


async def test_same_length_at_every_rate():
    lengths = [duration_ms(len(await synth(TEXT, rate)), rate) for rate in (8000, 16000, 48000)]
    assert max(lengths) - min(lengths) < 30


async def test_narrowband_has_no_energy_above_nyquist():
    pcm = np.frombuffer(await synth(TEXT, 8000), dtype=np.int16).astype(np.float64)
    assert np.isfinite(pcm).all() and np.abs(pcm).max() < 32768


async def test_speed_and_pitch_are_settable():
    slow = await synth(TEXT, 16000, rate_wpm=120)
    fast = await synth(TEXT, 16000, rate_wpm=300)
    assert len(fast) < 0.6 * len(slow)
    assert await synth(TEXT, 16000, pitch=80) != await synth(TEXT, 16000, pitch=20)


def envelope(pcm: bytes) -> np.ndarray:
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    n = len(x) // 160
    return np.sqrt((x[: n * 160].reshape(n, 160) ** 2).mean(axis=1))


async def test_concurrent_calls_are_serialised_not_interleaved():
    # eSpeak's noise sources make runs differ in detail, so compare loudness envelopes.
    alone = envelope(await synth(TEXT, 16000))
    together = await asyncio.gather(*(synth(TEXT, 16000) for _ in range(4)))
    for pcm in together:
        env = envelope(pcm)
        n = min(len(env), len(alone))
        assert abs(len(env) - len(alone)) < 5
        assert np.corrcoef(env[:n], alone[:n])[0, 1] > 0.95


async def test_abandoned_synthesis_stops_and_engine_stays_usable():
    agen = EspeakTTS().synthesize("word " * 400, sample_rate=16000)
    first = await agen.__anext__()
    assert first
    await agen.aclose()
    assert await synth("still works", 16000)


async def test_empty_and_control_text():
    assert await synth("   ", 16000) == b""
    assert await synth("hello\x00\x07 there", 16000)


async def test_unknown_voice_is_a_provider_error():
    with pytest.raises(ProviderError, match="no voice named"):
        await synth("hi", 16000, voice="xx-nosuchvoice")
    assert await synth("hi", 16000), "a bad voice leaves the engine usable"


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError):
        EspeakTTS(rate_wpm=10)
    with pytest.raises(ValueError):
        EspeakTTS(pitch=101)
    with pytest.raises(ValueError):
        EspeakTTS(voice="en; rm -rf")


def test_missing_library_is_a_clear_provider_error(monkeypatch):
    import espeakng_loader

    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: "/nonexistent/libespeak-ng.so")
    with pytest.raises(ProviderError, match=r"eSpeak NG cannot be loaded.*espeakng-loader"):
        local_tts._Engine()
