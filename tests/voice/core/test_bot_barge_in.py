"""Barge-in over a real socket: killAudio, stale output dropped, heard history, no false triggers."""

from __future__ import annotations

import asyncio

from tests.voice.core.core_fakes import (
    FakeLLM,
    FakeProviders,
    FakeSTT,
    FakeTTS,
    click,
    dominant_freq,
    noise_burst,
    silence,
    voiced,
)
from voice import protocol
from voice.bus import BargeIn, BotSentence, TurnMetrics
from voice.clock import ScaledClock
from voice.providers.base import Transcript
from voice.session import SessionOptions

LONG_REPLY = [
    "Our store opens at nine in the morning on weekdays. ", 0.01,
    "On Saturdays we open a little later, at ten o'clock. ", 0.01,
    "On Sundays and public holidays we stay closed all day. ", 2.0,  # still generating when cut
    "You can also order online at any time of the day or night.",
]
FULL_TEXT = "".join(x for x in LONG_REPLY if isinstance(x, str)).strip()


def _freq(text: str) -> float:
    """The old reply speaks at 500 Hz, everything else at 1000 Hz."""
    return 500.0 if any(text.startswith(p[:12]) for p in LONG_REPLY if isinstance(p, str)) else 1000.0


async def _reply_playing(bot, llm, node):
    """Greeting, then the caller asks; returns once the long reply's audio is arriving."""
    stream = await bot.providers.stt.wait_stream()
    await node.wait_count("playAudio")
    session = next(iter(bot.server.sessions.values()))
    await node.wait_for(lambda n: session.state == "listening", what="greeting played")
    stream.emit(Transcript("what are your hours", final=True))
    await node.wait_for(
        lambda n: any(abs(dominant_freq(p.pcm, 16000) - 500) < 30 for p in n.plays()), what="the reply's audio"
    )
    return stream


async def test_speech_over_the_bot_kills_audio_and_the_rest_never_arrives(bot_factory):
    llm = FakeLLM([LONG_REPLY, ["All right, what else can I do?"]])
    tts = FakeTTS(ms_per_char=40, freq_for=_freq)
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=tts)
    bot = await bot_factory(providers=prov, clock=ScaledClock(4.0), options=SessionOptions(resume_after_s=60, lead_ms=500))
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    stream = await _reply_playing(bot, llm, node)
    await asyncio.sleep(0.1)
    await node.send_pcm(voiced(16000, 300))
    await node.wait_count("killAudio")
    kill_at = node.kinds().index("killAudio")
    await asyncio.sleep(0.3)  # anything of the old epoch still in flight would land now
    after = [r.event for r in node.events[kill_at + 1 :] if isinstance(r.event, protocol.PlayAudio)]
    assert all(abs(dominant_freq(p.pcm, 16000) - 500) > 30 for p in after), "stale audio after killAudio"
    assert llm.cancelled == 1  # the in-flight generation was cancelled, not just muted
    # the caller's words arrive; the next reply is a new epoch and plays normally
    stream.emit(Transcript("and on sundays", final=True))
    await node.wait_for(lambda n: len(llm.requests) == 2, what="second request")
    await node.wait_for(
        lambda n: any(abs(dominant_freq(p.pcm, 16000) - 1000) < 30 for p in n.plays()[kill_at:]), what="new reply"
    )
    events = []
    events.extend(sub.drain())
    barge = [e for e in events if isinstance(e, BargeIn)]
    assert len(barge) == 1 and barge[0].latency_ms >= 0
    metrics = [e for e in events if isinstance(e, TurnMetrics) and e.turn == 1]
    assert metrics and metrics[0].interrupted
    cut = [e for e in events if isinstance(e, BotSentence) and e.heard is not None]
    assert cut and all(FULL_TEXT.startswith(e.heard) or e.heard == "" or e.text.startswith(e.heard) for e in cut)
    assert bot.server.stats.barge_in.values


async def test_history_keeps_only_what_the_caller_heard(bot_factory):
    llm = FakeLLM([LONG_REPLY, ["Okay."]])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=FakeTTS(ms_per_char=40, freq_for=_freq))
    bot = await bot_factory(providers=prov, clock=ScaledClock(4.0), options=SessionOptions(resume_after_s=60, lead_ms=300))
    node = await bot.call()
    stream = await _reply_playing(bot, llm, node)
    await asyncio.sleep(0.25)  # ~1 s of the ~8 s reply at speed 4
    await node.send_pcm(voiced(16000, 300))
    await node.wait_count("killAudio")
    stream.emit(Transcript("wait", final=True))
    await node.wait_for(lambda n: len(llm.requests) == 2, what="second request")
    second = llm.requests[1]
    assert second[-1].content == "wait"
    assert second[-3].role == "user" and second[-3].content == "what are your hours"
    assert second[-2].role == "assistant"
    heard = second[-2].content
    assert heard and FULL_TEXT.startswith(heard)
    assert len(heard) < len(FULL_TEXT) - 30, heard
    # and it is not just the greeting
    assert heard.startswith("Our store opens")


async def test_a_cough_or_a_click_does_not_interrupt(bot_factory):
    llm = FakeLLM([LONG_REPLY])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=FakeTTS(ms_per_char=40, freq_for=_freq))
    bot = await bot_factory(providers=prov, clock=ScaledClock(4.0), options=SessionOptions(resume_after_s=60, lead_ms=300))
    node = await bot.call()
    await _reply_playing(bot, llm, node)
    rate = 16000
    noises = [
        click(rate), silence(rate, 200), noise_burst(rate, 250, seed=3), silence(rate, 300),
        click(rate) + silence(rate, 40) + click(rate), silence(rate, 200), noise_burst(rate, 180, amp=0.8, seed=9),
        silence(rate, 200), voiced(rate, 40), silence(rate, 300),  # a 40 ms blip of voice is too short too
    ]
    await node.send_pcm(b"".join(noises))
    await asyncio.sleep(0.2)
    assert node.count("killAudio") == 0
    session = bot.server.sessions["call-1"]
    assert session.state == "speaking"


async def test_an_interim_transcript_confirms_a_barge_in_only_with_voice(bot_factory):
    llm = FakeLLM([LONG_REPLY])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=FakeTTS(ms_per_char=40, freq_for=_freq))
    bot = await bot_factory(providers=prov, clock=ScaledClock(4.0), options=SessionOptions(resume_after_s=60, lead_ms=300))
    node = await bot.call()
    stream = await _reply_playing(bot, llm, node)
    # an interim with no voice in the audio (e.g. the STT hallucinating on line noise): ignored
    stream.emit(Transcript("uh", final=False))
    await asyncio.sleep(0.1)
    assert node.count("killAudio") == 0
    # a little voice (too short for the VAD alone) plus an interim: that is the caller
    await node.send_pcm(voiced(16000, 60))
    stream.emit(Transcript("hold on", final=False))
    await node.wait_count("killAudio")


async def test_a_false_start_resumes_the_cut_reply(bot_factory):
    """Speech that never becomes a transcript: after a quiet spell the bot picks up again
    from the sentence it was cut in, so the caller is never left in silence."""
    llm = FakeLLM([LONG_REPLY])
    tts = FakeTTS(ms_per_char=40, freq_for=_freq)
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=tts)
    bot = await bot_factory(providers=prov, clock=ScaledClock(4.0), options=SessionOptions(resume_after_s=1.0, lead_ms=300))
    node = await bot.call()
    await _reply_playing(bot, llm, node)
    await node.send_pcm(voiced(16000, 300) + silence(16000, 400))
    await node.wait_count("killAudio")
    kill_at = node.kinds().index("killAudio")
    await node.wait_for(lambda n: len(n.kinds()) > kill_at + 1, timeout=5, what="resumed audio")
    resumed = [t for t, _ in tts.calls if t.startswith(("Our store", "On Saturdays"))]
    assert len(resumed) >= 2  # the cut sentence was synthesised again
    assert len(llm.requests) == 1  # a resume, not a new LLM turn


async def test_barge_in_before_any_audio_merges_the_question(bot_factory):
    """The caller goes on talking while the bot is still thinking: the reply is dropped
    unheard, and the next request carries both pieces as one question."""
    llm = FakeLLM([[0.5, "First answer."], ["Merged answer."]])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov, clock=ScaledClock(4.0), options=SessionOptions(resume_after_s=60))
    node = await bot.call()
    stream = await bot.providers.stt.wait_stream()
    await node.wait_count("playAudio")
    await asyncio.sleep(0.1)
    stream.emit(Transcript("I would like to know", final=True))
    await node.wait_for(lambda n: len(llm.requests) == 1, what="first request")
    stream.emit(Transcript("your opening hours", final=True))
    await node.wait_for(lambda n: len(llm.requests) == 2, what="second request")
    assert llm.requests[1][-1].content == "I would like to know your opening hours"
    assert [m.role for m in llm.requests[1]].count("user") == 1
    assert node.count("killAudio") == 0  # nothing was playing: nothing to kill
