"""Tool calls (transfer, end_call), the watchdog, TTS fallback and STT reconnects."""

from __future__ import annotations

import asyncio

from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS, dominant_freq, voiced
from voice import protocol
from voice.bus import StateChanged, Transferred
from voice.providers.base import ProviderError, ToolCall, Transcript
from voice.session import SessionOptions


async def _ask(bot, node, text: str = "hello") -> None:
    """Wait for the greeting to play out (fast clock), then say `text`."""
    stream = await bot.providers.stt.wait_stream()
    await node.wait_count("playAudio")
    session = next(iter(bot.server.sessions.values()))
    await node.wait_for(lambda n: session.state == "listening", what="greeting played")
    stream.emit(Transcript(text, final=True))


def _played_ms(node, until_index: int | None = None) -> float:
    events = node.events if until_index is None else node.events[:until_index]
    return sum(len(r.event.pcm) / 2 / r.event.sample_rate * 1000 for r in events if r.event.type == "playAudio")


async def test_transfer_tool_speaks_waits_then_transfers(bot_factory):
    llm = FakeLLM([[ToolCall("transfer_to_agent")]])
    tts = FakeTTS(ms_per_char=40)
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=tts)
    bot = await bot_factory(providers=prov, transfer_number="+919999988888")
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await _ask(bot, node, "can I talk to a person")
    await node.wait_count("transfer", timeout=10)
    assert llm.tools_seen[0] == ["transfer_to_agent", "end_call"]
    ev = next(r for r in node.events if r.event.type == "transfer")
    assert ev.event.destination == "+919999988888"
    # the transfer line was spoken and had time to play before the transfer went out
    transfer_line_ms = tts.duration_ms("Transferring you now.")
    idx = node.events.index(ev)
    last_play = max(i for i, r in enumerate(node.events[:idx]) if r.event.type == "playAudio")
    assert node.events[idx].at - node.events[last_play].at >= 0.5 * 40 / 1000 / 10  # paced, not instant
    assert _played_ms(node, idx) >= transfer_line_ms
    session = bot.server.sessions["call-1"]
    assert session.state == "transferring"
    assert session.history[-1].content == "Transferring you now."
    # the caller speaking now does not interrupt the transfer
    kills = node.count("killAudio")
    await node.send_pcm(voiced(16000, 300))
    await asyncio.sleep(0.05)
    assert node.count("killAudio") == kills
    # the Stream Node does not hang up: the bot closes the socket after the grace period
    await asyncio.wait_for(node.closed.wait(), 5)
    events = []
    events.extend(sub.drain())
    assert any(isinstance(e, Transferred) and e.destination == "+919999988888" for e in events)
    assert "transferring" in [e.state for e in events if isinstance(e, StateChanged)]


async def test_transfer_tool_without_a_number_says_so(bot_factory):
    llm = FakeLLM([[ToolCall("transfer_to_agent")]])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov)
    node = await bot.call()
    await _ask(bot, node)
    session = bot.server.sessions["call-1"]
    await node.wait_for(lambda n: any(m.content.startswith("Sorry, I can't transfer") for m in session.history),
                        what="the no-transfer line")
    assert node.count("transfer") == 0 and session.state == "listening"


async def test_end_call_tool_says_goodbye_then_disconnects(bot_factory):
    llm = FakeLLM([["Thanks for calling, have a nice day!", ToolCall("end_call")]])
    tts = FakeTTS(ms_per_char=20)
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=tts)
    bot = await bot_factory(providers=prov)
    prerendered = len(tts.calls)
    node = await bot.call()
    await _ask(bot, node, "that's all, bye")
    await node.wait_count("disconnect", timeout=10)
    idx = node.kinds().index("disconnect")
    # the model's own goodbye was spoken (no canned line on top of it), then disconnect
    assert "Thanks for calling, have a nice day!" in [t for t, _ in tts.calls]
    assert [t for t, _ in tts.calls[prerendered:]] == ["Thanks for calling, have a nice day!"]
    assert _played_ms(node, idx) >= tts.duration_ms("Thanks for calling, have a nice day!")
    assert all(r.event.type != "playAudio" for r in node.events[idx:])


async def test_llm_error_gets_an_apology_and_the_next_turn_works(bot_factory):
    llm = FakeLLM([[ProviderError("upstream 500")], ["Yes, we deliver."]])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov)
    node = await bot.call()
    await _ask(bot, node, "do you deliver")
    session = bot.server.sessions["call-1"]
    apology = "Sorry, I had trouble with that. Could you say it again?"
    await node.wait_for(lambda n: session.history and session.history[-1].content == apology, what="apology")
    assert all(m.content != "do you deliver" for m in session.history)  # asked again, not kept
    stream = prov.stt.streams[0]
    stream.emit(Transcript("do you deliver", final=True))
    await node.wait_for(lambda n: session.history[-1].content == "Yes, we deliver.", what="second answer")


async def test_a_stalled_turn_gets_an_apology(bot_factory):
    llm = FakeLLM([[30.0, "Too late."]])  # the model hangs
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov, options=SessionOptions(stall_timeout_s=2.0))
    node = await bot.call()
    await _ask(bot, node)
    session = bot.server.sessions["call-1"]
    n = len(node.plays())
    await node.wait_for(lambda s: len(s.plays()) > n, timeout=5, what="the apology audio")
    await node.wait_for(lambda s: session.history[-1].content.startswith("Sorry, I had trouble"), what="apology")
    assert llm.cancelled == 1
    assert session.state == "listening"


async def test_tts_failure_falls_back_to_the_offline_voice(bot_factory):
    primary = FakeTTS(name="cloudtts", freq=500)
    backup = FakeTTS(name="offline", freq=1500, ms_per_char=10)
    llm = FakeLLM([["First sentence is here. ", "Second sentence is here."]])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=primary, fallback_tts=backup)
    bot = await bot_factory(providers=prov)
    node = await bot.call()
    await node.wait_count("playAudio")
    primary.fail = True  # it rendered the greeting at start, and now it is down
    session = bot.server.sessions["call-1"]
    await node.wait_for(lambda s: session.state == "listening", what="greeting played")
    n = len(node.plays())
    await _ask(bot, node)
    await node.wait_for(lambda s: session.history and session.history[-1].role == "assistant"
                        and "Second sentence" in session.history[-1].content, what="the reply in the fallback voice")
    reply = node.plays()[n:]
    assert reply and all(abs(dominant_freq(p.pcm, 16000) - 1500) < 60 for p in reply if len(p.pcm) > 600)
    # after the first failure the reply stays on the fallback voice (no retry per sentence)
    assert [t for t, _ in primary.calls].count("Second sentence is here.") == 0
    assert ("Second sentence is here.", 16000) in backup.calls


async def test_tts_failing_mid_sentence_falls_back_too(bot_factory):
    primary = FakeTTS(name="cloudtts", freq=500, fail_after_pieces=3)
    backup = FakeTTS(name="offline", freq=1500, ms_per_char=10)
    llm = FakeLLM([["This sentence will break halfway through."]])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=primary, fallback_tts=backup)
    bot = await bot_factory(providers=prov, server_kw={"prerender": False})
    node = await bot.call()
    await node.wait_count("playAudio")  # the greeting: primary fails after 3 pieces -> fallback
    await _ask(bot, node)
    await node.wait_for(lambda s: ("This sentence will break halfway through.", 16000) in backup.calls,
                        what="fallback synthesis")


async def test_every_voice_failing_still_ends_in_an_apology_attempt(bot_factory):
    tts = FakeTTS(fail=True)
    llm = FakeLLM([["Hello."]])
    prov = FakeProviders(stt=FakeSTT(manual=True), llm=llm, tts=tts)
    bot = await bot_factory(providers=prov)
    node = await bot.call()
    stream = await prov.stt.wait_stream()
    stream.emit(Transcript("hi", final=True))
    await node.wait_for(lambda s: any(t.startswith("Sorry, I had trouble") for t, _ in tts.calls), what="apology")
    assert "call-1" in bot.server.sessions  # the call survives; the caller may try again


async def test_stt_that_dies_mid_call_reconnects_without_dropping_the_call(bot_factory):
    stt = FakeSTT(["first question", "second question"], die_after_bytes=16000 * 2)  # dies after ~1 s of audio
    llm = FakeLLM([["First answer."], ["Second answer."]])
    prov = FakeProviders(stt=stt, llm=llm, tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov)
    node = await bot.call()
    await node.wait_count("playAudio")
    await node.say(voiced(16000, 400), tail_ms=400)
    session = bot.server.sessions["call-1"]
    await node.wait_for(lambda n: len(llm.requests) == 1, what="first request")
    await node.wait_for(lambda n: session.history[-1:] and session.history[-1].content == "First answer.",
                        what="first answer played")
    await node.say(voiced(16000, 400), tail_ms=400)  # crosses the 1 s mark: the stream dies here
    await node.wait_for(lambda n: len(stt.streams) >= 2, what="a reconnect")
    await node.say(voiced(16000, 400), tail_ms=600)
    await node.wait_for(lambda n: len(llm.requests) == 2, what="a turn after the reconnect")
    assert llm.requests[1][-1].content == "second question"
    assert stt.streams[0].closed
    assert "call-1" in bot.server.sessions
    assert protocol.KILL_AUDIO


async def test_stt_that_cannot_open_is_retried(bot_factory):
    stt = FakeSTT(["hello"], fail_opens=2)
    prov = FakeProviders(stt=stt, llm=FakeLLM([["Hi."]]), tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov)
    node = await bot.call()
    await node.wait_count("playAudio")  # the greeting does not wait for STT
    await node.wait_for(lambda n: len(stt.streams) == 1, what="STT open after retries")
    await node.say(voiced(16000, 400))
    await node.wait_for(lambda n: len(prov.llm.requests) == 1, what="a turn")
    # audio spoken while STT was down was buffered, not lost
    assert stt.streams[0].received > 0
