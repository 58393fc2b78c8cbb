"""Decoders are leased per utterance from a bounded pool: a call holds one only while its
caller speaks, utterances beyond the pool wait (decoded later, in order), and a burst's
idle decoders are freed."""

from __future__ import annotations

import asyncio

from tests.voice.providers.provider_fakes.speech import quiet, synth_cached
from voice.providers.local_stt import PocketsphinxSTT
from voice.providers.script import IntentMatcher, load_script

SCRIPT = load_script(None)
MATCHER = IntentMatcher(SCRIPT)
RATE = 16000


async def _send(stream, pcm: bytes, frame_ms: int = 40) -> None:
    step = RATE * frame_ms // 1000 * 2
    for i in range(0, len(pcm), step):
        await stream.send(pcm[i : i + step])
        await asyncio.sleep(0)


async def _finals(stream) -> list[str]:
    await stream.close()
    return [t.text for t in [t async for t in stream.results()] if t.final]


async def test_a_silent_call_holds_no_decoder():
    stt = PocketsphinxSTT(SCRIPT.vocabulary())
    await stt.warm()
    streams = [await stt.open(sample_rate=RATE, call_id=f"quiet-{i}") for i in range(5)]
    for s in streams:
        await _send(s, quiet(RATE, 1000))
    await asyncio.sleep(0.3)
    pool = stt.pool
    assert pool is not None and pool.leased == 0 and pool.live == 1  # none of the five holds a decoder
    for s in streams:
        assert await _finals(s) == []


async def test_utterances_beyond_the_pool_wait_and_are_all_recognised():
    stt = PocketsphinxSTT(SCRIPT.vocabulary(), max_decoders=2)  # one streams, one decodes the waiting
    phrases = [("where is my order", "order_status"), ("what are your opening hours", "hours"),
               ("i want to speak to a person", "agent")]
    streams = [await stt.open(sample_rate=RATE, call_id=f"c{i}") for i in range(len(phrases))]
    pcms = [quiet(RATE, 300) + synth_cached(p, RATE) + quiet(RATE, 900) for p, _ in phrases]
    await asyncio.gather(*(_send(s, pcm) for s, pcm in zip(streams, pcms, strict=True)))
    results = [await _finals(s) for s in streams]
    pool = stt.pool
    assert pool is not None and pool.created <= 2 and pool.live <= 2
    for (phrase, intent), finals in zip(phrases, results, strict=True):
        assert finals, f"{phrase!r} was lost"
        assert MATCHER.match(finals[0]).intent.name == intent  # type: ignore[union-attr]
    assert sum(s.waited for s in streams) >= 1  # at least one utterance had to wait its turn


async def test_idle_decoders_of_a_burst_are_freed_but_one_is_kept():
    stt = PocketsphinxSTT(SCRIPT.vocabulary(), max_decoders=5, idle_decoder_s=0.2)  # 3 streaming + 2 batch
    streams = [await stt.open(sample_rate=RATE, call_id=f"b{i}") for i in range(3)]
    speech = synth_cached("i want to speak to a person", RATE)
    head, tail = quiet(RATE, 300) + speech[: len(speech) // 2], speech[len(speech) // 2 :] + quiet(RATE, 900)
    await asyncio.gather(*(_send(s, head) for s in streams))  # all three callers mid-sentence at once
    pool = stt.pool
    assert pool is not None
    for _ in range(500):
        if pool.leased == 3:
            break
        await asyncio.sleep(0.01)
    assert pool.peak == 3
    await asyncio.gather(*(_send(s, tail) for s in streams))
    for s in streams:
        assert await _finals(s)
    await asyncio.sleep(0.6)
    assert pool.live == 1 and pool.idle() == 1


def test_the_pool_size_is_a_setting():
    from voice.config import BotSettings
    from voice.providers.factory import build_providers
    from voice.providers.local_stt import DEFAULT_MAX_DECODERS

    default = build_providers(BotSettings(_env_file=None))  # type: ignore[call-arg]
    small = build_providers(BotSettings(_env_file=None, stt_local_decoders=3))  # type: ignore[call-arg]
    assert default.stt.max_decoders == DEFAULT_MAX_DECODERS  # type: ignore[attr-defined]
    assert small.stt.max_decoders == 3  # type: ignore[attr-defined]
