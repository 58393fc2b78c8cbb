"""PocketsphinxSTT: real offline recognition of eSpeak-synthesised script phrases.

The accuracy test is the function this recogniser exists for: the demo's callers are
eSpeak voices saying the script's phrases, and the bot must route them to the right
intent at 8 kHz and 16 kHz. Each phrase is a fresh stream from the decoder pool (as
each demo call is), so the first-utterance path (CMN second pass) is what is measured.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.voice.providers.provider_fakes.speech import quiet, speechlike, synth_cached
from voice.providers import local_stt
from voice.providers.base import Transcript
from voice.providers.local_stt import PocketsphinxSTT
from voice.providers.script import IntentMatcher, load_script

SCRIPT = load_script(None)
MATCHER = IntentMatcher(SCRIPT)
CASES = [(i.name, p) for i in SCRIPT.intents for p in i.phrases]


@pytest.fixture(scope="module")
def stt() -> PocketsphinxSTT:
    return PocketsphinxSTT(SCRIPT.vocabulary(), max_backlog_s=120)


async def recognise(stt: PocketsphinxSTT, pcm: bytes, rate: int, frame_ms: int = 0) -> list[Transcript]:
    stream = await stt.open(sample_rate=rate, call_id="t")
    if frame_ms:
        step = rate * frame_ms // 1000 * 2
        for i in range(0, len(pcm), step):
            await stream.send(pcm[i : i + step])
            await asyncio.sleep(0)
    else:
        await stream.send(pcm)
    await stream.close()
    return [t async for t in stream.results()]


async def accuracy(stt: PocketsphinxSTT, rate: int) -> tuple[float, list[str]]:
    misses = []
    for intent, phrase in CASES:
        pcm = quiet(rate, 300) + synth_cached(phrase, rate) + quiet(rate, 800)
        heard = " ".join(t.text for t in await recognise(stt, pcm, rate) if t.final)
        previous = "order_status" if intent == "order_number" else None
        match = MATCHER.match(heard, previous=previous)
        if match.intent is None or match.intent.name != intent:
            misses.append(f"{phrase!r} -> {heard!r}")
    return 1 - len(misses) / len(CASES), misses


@pytest.mark.parametrize(("rate", "threshold"), [(16000, 0.95), (8000, 0.9), (48000, 0.95)])
async def test_script_phrases_spoken_by_espeak_reach_their_intent(stt, rate, threshold):
    score, misses = await accuracy(stt, rate)
    print(f"\npocketsphinx intent accuracy at {rate} Hz: {score:.0%} of {len(CASES)} phrases; misses: {misses}")
    assert score >= threshold, misses


async def first_utterance(stt: PocketsphinxSTT, pcm: bytes, rate: int) -> tuple[int, list[str]]:
    """A fresh call's first utterance: (second passes it needed, its finals)."""
    stream = await stt.open(sample_rate=rate, call_id="first")
    await stream.send(pcm)
    await stream.close()
    finals = [t.text for t in [r async for r in stream.results()] if t.final]
    return stream.redecodes, finals


FIRST_LINES = [("what are your opening hours", "hours"), ("where is my order", "order_status"),
               ("how much does it cost", "prices")]


async def test_a_calls_first_utterance_needs_no_second_pass_from_the_wideband_prior():
    """The first words of a wideband call start from the front end's cepstral-mean prior:
    right in one pass. From the model's own mean every one needed a second."""
    rate = 16000
    with_prior, without = PocketsphinxSTT(SCRIPT.vocabulary()), PocketsphinxSTT(SCRIPT.vocabulary(), cmn_priors=False)
    passes = {True: 0, False: 0}
    for phrase, intent in FIRST_LINES:
        pcm = quiet(rate, 300) + synth_cached(phrase, rate) + quiet(rate, 800)
        for use_prior, stt in ((True, with_prior), (False, without)):
            redecodes, finals = await first_utterance(stt, pcm, rate)
            passes[use_prior] += redecodes
            if use_prior:
                match = MATCHER.match(" ".join(finals))
                assert match.intent is not None and match.intent.name == intent, (phrase, finals)
    assert passes == {True: 0, False: len(FIRST_LINES)}


async def test_a_narrowband_first_utterance_gets_its_second_pass_in_the_pause_not_at_the_turns_end(stt):
    """At 8 kHz the prior is not quite as good as a second pass, so the first utterance still
    gets one, but early in the caller's pause: done well before the turn's final, which then
    costs only the end of the utterance."""
    rate = 8000
    step = rate * 2 * 20 // 1000
    pcm = quiet(rate, 300) + synth_cached("what are your opening hours", rate) + quiet(rate, 1200)
    stream = await stt.open(sample_rate=rate, call_id="pause")
    passed_at = final_at = None
    final = ""
    for k, off in enumerate(range(0, len(pcm), step)):
        results = stream._process(pcm[off : off + step], False)
        if passed_at is None and stream.redecodes:
            passed_at = k
        if any(t.final for t in results):
            final_at, final = k, next(t.text for t in results if t.final)
            break
    await stream.close()
    assert passed_at is not None and final_at is not None
    assert stream.redecodes == 1
    assert (final_at - passed_at) * 20 >= 80, "the second pass runs in the pause, ahead of the decision"
    assert MATCHER.match(final).intent.name == "hours"  # type: ignore[union-attr]


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_a_complete_question_is_sent_eager_early_in_the_pause_with_the_finals_words(rate):
    """The answer can be prepared while the turn's silence is waited out: an eager interim
    with the turn's words comes early in the pause (at ~100 ms), well before the final."""
    stt = PocketsphinxSTT(SCRIPT.vocabulary())
    step = rate * 2 * 20 // 1000
    pcm = quiet(rate, 300) + synth_cached("where is my order", rate) + quiet(rate, 1200)
    stream = await stt.open(sample_rate=rate, call_id="eager")
    eager: tuple[int, str] | None = None
    final: tuple[int, str] | None = None
    for k, off in enumerate(range(0, len(pcm), step)):
        for t in stream._process(pcm[off : off + step], False):
            if t.eager and eager is None:
                eager = (k, t.text)
            if t.final:
                final = (k, t.text)
        if final is not None:
            break
    await stream.close()
    assert eager is not None and final is not None
    assert eager[1] == final[1]
    assert (final[0] - eager[0]) * 20 >= 60, f"eager at frame {eager[0]}, final at {final[0]}"


async def test_a_first_utterance_on_another_channel_still_gets_its_second_pass(stt):
    """Phone-band audio delivered as 16 kHz is far from the wideband prior: re-decoded."""
    import numpy as np

    x = np.frombuffer(synth_cached("what are your opening hours", 16000), np.int16).astype(np.float64)
    freq = np.fft.rfftfreq(len(x), 1 / 16000)
    band = np.fft.irfft(np.fft.rfft(x) * ((freq > 300) & (freq < 3400)), len(x))
    pcm = (band / np.abs(band).max() * 20000).astype(np.int16).tobytes()
    redecodes, finals = await first_utterance(stt, quiet(16000, 300) + pcm + quiet(16000, 800), 16000)
    assert redecodes == 1
    assert MATCHER.match(" ".join(finals)).intent.name == "hours"  # type: ignore[union-attr]


async def test_interims_while_speaking_then_one_final(stt):
    rate = 16000
    pcm = quiet(rate, 300) + synth_cached("i would like to speak to a human", rate) + quiet(rate, 900)
    results = await recognise(stt, pcm, rate, frame_ms=20)
    finals = [t for t in results if t.final]
    interims = [t for t in results if not t.final]
    assert len(finals) == 1 and finals[0].speech_final
    assert MATCHER.match(finals[0].text).intent.name == "agent"  # type: ignore[union-attr]
    assert interims and results.index(interims[0]) < results.index(finals[0])


@pytest.mark.parametrize("rate", [24000, 48000])
async def test_wideband_rates_are_resampled(stt, rate):
    pcm = quiet(rate, 300) + synth_cached("what are your opening hours", rate) + quiet(rate, 800)
    finals = [t.text for t in await recognise(stt, pcm, rate) if t.final]
    assert finals and MATCHER.match(finals[0]).intent.name == "hours"  # type: ignore[union-attr]


async def test_two_utterances_in_one_stream(stt):
    rate = 16000
    pcm = (quiet(rate, 300) + synth_cached("where is my order", rate) + quiet(rate, 900)
           + synth_cached("goodbye", rate) + quiet(rate, 900))
    finals = [t.text for t in await recognise(stt, pcm, rate, frame_ms=40) if t.final]
    assert len(finals) == 2
    assert MATCHER.match(finals[0]).intent.name == "order_status"  # type: ignore[union-attr]


async def test_close_flushes_speech_without_trailing_silence(stt):
    rate = 16000
    finals = [t for t in await recognise(stt, quiet(rate, 300) + synth_cached("track my order", rate), rate) if t.final]
    assert len(finals) == 1


async def test_silence_gives_nothing(stt):
    assert await recognise(stt, quiet(16000, 3000), 16000) == []


async def test_decoding_runs_off_the_event_loop_and_decoders_are_pooled(stt, monkeypatch):
    threads: set[str] = set()
    real = local_stt.PocketsphinxStream._process

    def spy(self, pcm, last):
        threads.add(threading.current_thread().name)
        return real(self, pcm, last)

    monkeypatch.setattr(local_stt.PocketsphinxStream, "_process", spy)
    await recognise(stt, quiet(16000, 300) + synth_cached("thank you", 16000) + quiet(16000, 800), 16000)
    assert threads and all(name.startswith("pocketsphinx") for name in threads)
    pool = stt.pool
    assert pool is not None
    created = pool.created
    for _ in range(3):
        await recognise(stt, quiet(16000, 200), 16000)
    assert pool.created == created, "closed streams return their decoder to the pool"


async def test_backlog_is_bounded():
    small = PocketsphinxSTT(SCRIPT.vocabulary(), max_backlog_s=0.5)
    stream = await small.open(sample_rate=16000, call_id="flood")
    for _ in range(50):  # 5 s at once (send never yields), faster than any decoder
        await stream.send(speechlike(16000, 100))
    assert stream.backlog_bytes <= 16000 * 2 * 0.5
    await stream.close()


async def test_warm_prepares_a_decoder():
    fresh = PocketsphinxSTT(["hello there", "goodbye"])
    await fresh.warm()
    assert fresh.pool is not None and fresh.pool.idle() == 1


def test_words_without_pronunciation_are_reported():
    model = local_stt.build_model(["hello zzxqv", "goodbye"])
    assert model.oov == ("zzxqv",)
