"""A call end to end over a real loopback WebSocket: greeting, turns, rates, metrics, logs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS, silence, voiced
from voice import protocol
from voice.bus import BotSentence, CallEnded, CallStarted, StateChanged, TranscriptEvent, TurnMetrics
from voice.config import SUPPORTED_RATES


async def test_greeting_is_the_first_frame_and_its_latency_is_measured(bot_factory):
    bot = await bot_factory()
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await node.wait_count("playAudio")
    first = node.events[0].event
    assert isinstance(first, protocol.PlayAudio)
    assert first.sample_rate == 16000
    # the first chunk is small (first_chunk_ms), later ones audio_chunk_ms
    assert len(first.pcm) == 16000 * 2 * 40 // 1000
    await node.wait_count("playAudio", 3)
    assert len(node.plays()[1].pcm) == 16000 * 2 * 100 // 1000
    # the greeting was pre-rendered once, at start, not per call
    assert bot.providers.tts.calls[0] == ("Hello! How can I help you today?", 16000)
    n_calls = len(bot.providers.tts.calls)
    await node.hang_up()
    events = []
    while not any(isinstance(e, CallEnded) for e in events):
        events.append(await asyncio.wait_for(sub.get(), 5))
    assert isinstance(events[0], CallStarted) and events[0].caller == "+919876543210"
    greeting = [e for e in events if isinstance(e, TurnMetrics) and e.turn == 0]
    assert greeting and greeting[0].greeting_ms is not None and greeting[0].greeting_ms >= 0
    assert len(bot.providers.tts.calls) == n_calls  # no TTS during the call for the greeting
    assert bot.server.stats.greeting.values


async def test_a_turn_streams_sentences_through_tts_and_records_history(bot_factory):
    llm = FakeLLM([["We are open ", "from nine to five. ", "On Saturdays ", "until noon."]])
    prov = FakeProviders(stt=FakeSTT(["what are your hours"]), llm=llm, tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov)
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await node.wait_count("playAudio")
    session = next(iter(bot.server.sessions.values()))
    await asyncio.sleep(0.4)  # greeting (short at 5 ms/char) plays out on the fast clock
    await node.say(voiced(16000, 400))
    await node.wait_for(lambda n: len(llm.requests) == 1, what="an LLM request")
    messages = llm.requests[0]
    assert messages[0].role == "system"
    assert messages[1].role == "assistant" and messages[1].content == "Hello! How can I help you today?"
    assert messages[-1].role == "user" and messages[-1].content == "what are your hours"
    assert llm.tools_seen[0] == ["end_call"]  # no TRANSFER_NUMBER: no transfer tool
    await node.wait_for(lambda n: session.state == "listening" and len(session.history) == 3, what="turn end")
    assert session.history[-1].content == "We are open from nine to five. On Saturdays until noon."
    tts_texts = [t for t, _ in prov.tts.calls]
    assert "We are open from nine to five." in tts_texts and "On Saturdays until noon." in tts_texts
    await node.hang_up()
    events = []
    while not any(isinstance(e, CallEnded) for e in events):
        events.append(await asyncio.wait_for(sub.get(), 5))
    finals = [e for e in events if isinstance(e, TranscriptEvent) and e.final]
    assert [e.text for e in finals] == ["what are your hours"]
    sentences = [e.text for e in events if isinstance(e, BotSentence) and e.turn == 1]
    assert sentences == ["We are open from nine to five.", "On Saturdays until noon."]
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states[:2] == ["speaking", "listening"]
    assert "thinking" in states and states[-1] == "ended"
    m = next(e for e in events if isinstance(e, TurnMetrics) and e.turn == 1)
    for name in ("stt_final_ms", "llm_first_token_ms", "first_sentence_ms", "tts_first_byte_ms", "first_audio_ms",
                 "total_ms"):
        assert getattr(m, name) is not None, name
    assert not m.interrupted


@pytest.mark.parametrize("rate", SUPPORTED_RATES)
async def test_every_rate_end_to_end(bot_factory, rate):
    prov = FakeProviders(stt=FakeSTT(["hi"]), llm=FakeLLM([["Hello to you too."]]), tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov)
    node = await bot.call(rate=rate)
    await node.wait_count("playAudio")
    assert {p.sample_rate for p in node.plays()} == {rate}
    await asyncio.sleep(0.3)
    n_before = len(node.plays())
    await node.say(voiced(rate, 400))
    await node.wait_for(lambda n: ("Hello to you too.", rate) in prov.tts.calls, what="reply TTS at the call's rate")
    await node.wait_for(lambda n: len(n.plays()) > n_before + 1, what="reply audio")
    assert {p.sample_rate for p in node.plays()} == {rate}
    assert prov.stt.streams[0].sample_rate == rate
    assert all(len(p.pcm) % 2 == 0 for p in node.plays())


async def test_logs_follow_the_guide_format_and_hold_no_secret(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(bot_token="s3cret-token-value", monitor_token="m0nitor-secret")
    node = await bot.call(token="s3cret-token-value", callid="abc123")
    await node.wait_count("playAudio")
    await node.say(voiced(16000, 300))
    await asyncio.sleep(0.2)
    await node.hang_up()
    await asyncio.sleep(0.1)
    text = caplog.text
    assert "[call_id=abc123] [KNOWLARITY" in text
    assert "[call_id=abc123] [BOT" in text
    assert "s3cret-token-value" not in text and "m0nitor-secret" not in text
    assert "9876543210" not in text  # the caller's number is masked
    assert "call ended: caller hung up" in text


async def test_default_rate_comes_from_settings(bot_factory):
    bot = await bot_factory(bot_sample_rate=8000)
    node = await bot.call()
    await node.wait_count("playAudio")
    assert node.plays()[0].sample_rate == 8000
    # a different rate per connection, by URL, in the Stream Node's own spelling
    node2 = await bot.call(url=bot.server.url + "?sample_rate=24k", callid="call-2")
    node2.rate = 24000
    await node2.wait_count("playAudio")
    assert node2.plays()[0].sample_rate == 24000
    assert silence(8000, 10)  # helper sanity


async def test_a_recorded_call_has_both_tracks_and_the_events(bot_factory, tmp_path):
    prov = FakeProviders(stt=FakeSTT(["hi"]), llm=FakeLLM([["Hello to you too."]]), tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov, record_dir=tmp_path, bot_sample_rate=8000)
    node = await bot.call(callid="rec/../1")
    await node.wait_count("playAudio")
    session = bot.server.sessions["rec/../1"]
    await node.wait_for(lambda n: session.state == "listening", what="greeting played")
    # in real time, as the Stream Node sends it (20 ms frames, 2 ms apart on the 10x clock):
    # caller.wav never holds more audio than the call has lasted
    await node.say(voiced(8000, 400), pace=0.002)
    await node.wait_for(lambda n: len(session.history) >= 3 and session.state == "listening", what="a turn")
    await node.hang_up()
    for _ in range(200):
        if "rec/../1" not in bot.server.sessions:
            break
        await asyncio.sleep(0.01)
    [folder] = list(tmp_path.iterdir())
    assert folder.name.endswith("rec_.._1") or "rec_" in folder.name
    import wave

    from voice.recording import dump_events

    with wave.open(str(folder / "caller.wav")) as wf:
        assert wf.getframerate() == 8000 and wf.getnframes() >= 8000 * 0.8 * 0.9
    with wave.open(str(folder / "bot.wav")) as wf:
        assert wf.getframerate() == 8000 and wf.getnframes() > 0
    kinds = [e["kind"] for e in dump_events(folder / "events.jsonl")]
    assert kinds[0] == "call_started" and kinds[-1] == "call_ended"
    assert "transcript" in kinds and "bot_sentence" in kinds and "turn_metrics" in kinds
