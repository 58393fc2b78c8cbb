"""Audio helpers for provider tests: eSpeak synthesis (cached) and synthetic voiced sound."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from voice.providers.local_tts import EspeakTTS


async def synth(text: str, rate: int, **voice: object) -> bytes:
    tts = EspeakTTS(**voice)  # type: ignore[arg-type]
    return b"".join([c async for c in tts.synthesize(text, sample_rate=rate)])


@lru_cache(maxsize=512)
def synth_cached(text: str, rate: int) -> bytes:
    """Synchronous and cached (runs its own loop on a helper thread, so it also works
    inside a test's running loop): one synthesis per phrase and rate per test run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, synth(text, rate)).result()


def speechlike(rate: int, ms: int, amp: int = 9000) -> bytes:
    """A voiced buzz (harmonics of 140 Hz, 4 Hz syllable rhythm) that WebRTC VAD calls speech."""
    t = np.arange(rate * ms // 1000) / rate
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return (x / np.max(np.abs(x)) * amp).astype(np.int16).tobytes()


def quiet(rate: int, ms: int) -> bytes:
    return bytes(rate * ms // 1000 * 2)
