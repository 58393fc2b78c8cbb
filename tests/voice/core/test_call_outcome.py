"""Who ended the call: one typed outcome on CallEnded, set where the decision is made, and
the same words in the bot's log line, the /monitor feed, the recording and the metrics."""

from __future__ import annotations

import asyncio
import json
import logging

from websockets.asyncio.client import connect

from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS, voiced
from voice.bus import CallEnded, HangupCommand, TransferCommand, parse_monitor_event, to_json
from voice.fleet.metrics import outcome_of
from voice.providers.base import ToolCall, Transcript
from voice.recording import dump_events


async def _ended(sub, call_id: str = "call-1", timeout: float = 10.0) -> CallEnded:
    async with asyncio.timeout(timeout):
        while True:
            event = await sub.get()
            if isinstance(event, CallEnded) and event.call_id == call_id:
                return event


async def _listening(bot, node, call_id: str = "call-1") -> None:
    await node.wait_count("playAudio")
    session = bot.server.sessions[call_id]
    await node.wait_for(lambda n: session.state == "listening", what="greeting played")


async def _ask(bot, node, text: str) -> None:
    stream = await bot.providers.stt.wait_stream()
    await _listening(bot, node)
    stream.emit(Transcript(text, final=True))


def _manual(llm: FakeLLM | None = None) -> FakeProviders:
    return FakeProviders(stt=FakeSTT(manual=True), llm=llm or FakeLLM(), tts=FakeTTS(ms_per_char=5))


async def test_the_caller_hanging_up(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory()
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await _listening(bot, node)
    await node.hang_up()
    ended = await _ended(sub)
    assert (ended.outcome, ended.reason) == ("caller_hangup", "caller hung up")
    assert "call ended: caller hung up" in caplog.text


async def test_the_bot_ending_the_call_with_its_tool(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(providers=_manual(FakeLLM([["Goodbye!", ToolCall("end_call")]])))
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await _ask(bot, node, "that's all, bye")
    await node.wait_count("disconnect", timeout=10)
    await node.hang_up()  # the Stream Node ends the leg, as it does after a disconnect
    ended = await _ended(sub)
    assert (ended.outcome, ended.reason) == ("bot_ended", "bot ended the call")
    assert "call ended: bot ended the call" in caplog.text and "call ended: caller hung up" not in caplog.text


async def test_a_supervisor_hang_up_on_the_monitor_feed_and_in_the_recording(bot_factory, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(providers=_manual(), monitor_token="m", record_dir=tmp_path)
    node = await bot.call()
    await _listening(bot, node)
    await node.send_pcm(voiced(16000, 200))  # the recording's folder appears with the caller's first audio
    async with connect(bot.server.monitor_url + "?token=m") as mon:
        await mon.send(json.dumps({"command": "hangup", "call_id": "call-1"}))
        await node.wait_count("disconnect", timeout=10)
        await node.hang_up()
        async with asyncio.timeout(10):
            while True:
                frame = json.loads(await mon.recv())
                if frame.get("kind") == "call_ended":
                    break
    assert (frame["outcome"], frame["reason"]) == ("supervisor_hangup", "hung up by supervisor")
    assert "call ended: hung up by supervisor" in caplog.text
    for _ in range(200):
        if "call-1" not in bot.server.sessions:
            break
        await asyncio.sleep(0.01)
    [folder] = list(tmp_path.iterdir())
    [recorded] = [e for e in dump_events(folder / "events.jsonl") if e["kind"] == "call_ended"]
    assert (recorded["outcome"], recorded["reason"]) == ("supervisor_hangup", "hung up by supervisor")


async def test_a_supervisor_transfer_through_the_bus(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(providers=_manual())
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await _listening(bot, node)
    assert await bot.server.bus.send_command(TransferCommand(call_id="call-1", destination="+919000000001")) is None
    await node.wait_count("transfer", timeout=10)
    await node.hang_up()  # the Stream Node takes the call away: not the caller hanging up
    ended = await _ended(sub)
    assert (ended.outcome, ended.detail, ended.reason) == ("transferred", "+919000000001", "transferred to +919000000001")
    assert "call ended: transferred to +919000000001" in caplog.text


async def test_the_bot_transferring_with_its_tool(bot_factory):
    bot = await bot_factory(providers=_manual(FakeLLM([[ToolCall("transfer_to_agent")]])), transfer_number="+919999988888")
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await _ask(bot, node, "a person please")
    await node.wait_count("transfer", timeout=10)
    ended = await _ended(sub)  # the Stream Node keeps the socket open: the bot closes it after the grace
    assert (ended.outcome, ended.detail) == ("transferred", "+919999988888")


async def test_a_caller_who_hangs_up_during_the_last_line_ended_the_call(bot_factory):
    tts = FakeTTS(ms_per_char=400)  # a long goodbye: the caller is gone before it has played
    bot = await bot_factory(providers=FakeProviders(stt=FakeSTT(manual=True), llm=FakeLLM(), tts=tts))
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await node.wait_count("playAudio")
    assert await bot.server.bus.send_command(HangupCommand(call_id="call-1")) is None
    await node.hang_up()
    ended = await _ended(sub)
    assert "disconnect" not in node.kinds()
    assert ended.outcome == "caller_hangup"


async def test_a_server_shutdown_and_a_drain_that_timed_out(bot_factory):
    bot = await bot_factory()
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await _listening(bot, node)
    assert await bot.server.drain(0.05) == 1
    await bot.server.close()
    ended = await _ended(sub)
    assert (ended.outcome, ended.detail) == ("shutdown", "drain timed out")
    bot2 = await bot_factory()
    sub2 = bot2.server.bus.subscribe()
    node2 = await bot2.call(callid="c2")
    await node2.wait_count("playAudio")
    await bot2.server.close()
    assert (await _ended(sub2, "c2")).outcome == "shutdown"


async def test_the_idle_limit(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(bot_idle_timeout_s=3.0)  # 0.3 s on the 10x clock
    sub = bot.server.bus.subscribe()
    await bot.call()
    ended = await _ended(sub)
    assert (ended.outcome, ended.detail, ended.reason) == ("limit", "no audio for 3 s", "no audio for 3 s")
    assert "call ended: no audio for 3 s" in caplog.text


async def test_a_bad_frame_is_an_error(bot_factory):
    bot = await bot_factory()
    sub = bot.server.bus.subscribe()
    node = await bot.call()
    await node.wait_count("playAudio")
    await node.ws.send(b"\x00\x01\x02")
    ended = await _ended(sub)
    assert ended.outcome == "error" and "odd-length audio frame" in ended.detail


def test_an_older_peer_s_frame_parses_and_the_metrics_read_the_typed_outcome():
    old = parse_monitor_event('{"kind": "call_ended", "call_id": "x", "reason": "caller hung up"}')
    assert isinstance(old, CallEnded) and old.outcome == "unknown" and old.text == "caller hung up"
    assert outcome_of(old) == "caller_hangup"  # only an outcome-less event is read from its words
    new = parse_monitor_event(to_json(CallEnded(call_id="x", reason="transferred to 5", outcome="transferred", detail="5")))
    assert isinstance(new, CallEnded) and (new.outcome, new.detail, new.text) == ("transferred", "5", "transferred to 5")
    assert outcome_of(new) == "transferred"
    assert outcome_of(CallEnded(call_id="x", reason="caller hung up", outcome="supervisor_hangup")) == "supervisor_hangup"
    newer = parse_monitor_event('{"kind": "call_ended", "call_id": "x", "reason": "r", "outcome": "teleported"}')
    assert isinstance(newer, CallEnded) and newer.outcome == "unknown"  # a newer peer's outcome still parses
