"""Bad input ends only the call that sent it; a vanished caller leaves nothing behind."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS, silence, voiced
from voice import protocol


async def _still_talks(bot, callid: str = "healthy") -> None:
    """A healthy call on the same server gets its greeting and an answer."""
    node = await bot.call(callid=callid)
    await node.wait_count("playAudio")
    n = len(node.plays())
    await asyncio.sleep(0.2)
    await node.say(voiced(16000, 400))
    await node.wait_for(lambda s: len(s.plays()) > n + 1, what="an answer on the healthy call")


async def _expect_closed(ws, code: int | None = None) -> None:
    with pytest.raises(ConnectionClosed):
        for _ in range(200):
            await asyncio.wait_for(ws.recv(), 5)
    if code is not None:
        assert ws.close_code == code


BAD_FIRST_FRAMES = [
    pytest.param(b"\x00\x01" * 160, 1008, "binary frame before metadata", id="binary-before-metadata"),
    pytest.param("{not json", 1007, "Failed to parse metadata", id="broken-json"),
    pytest.param('{"virtual_number": "+91"}', 1007, "callid", id="missing-callid"),
    pytest.param('"just a string"', 1007, "Failed to parse metadata", id="json-string-not-dict"),
    pytest.param("[1, 2, 3]", 1007, "must be an object", id="json-list"),
    pytest.param("   ", 1007, "empty", id="blank"),
]


@pytest.mark.parametrize(("first", "code", "logged"), BAD_FIRST_FRAMES)
async def test_bad_metadata_ends_that_call_only(bot_factory, caplog, first, code, logged):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory()
    healthy = await bot.call(callid="other")
    await healthy.wait_count("playAudio")
    async with connect(bot.url(), compression=None) as ws:
        await ws.send(first)
        await _expect_closed(ws, code)
    assert logged in caplog.text
    assert "Traceback" not in caplog.text
    assert not bot.providers.stt.streams[1:]  # no provider touched for the bad call
    assert "other" in bot.server.sessions
    await _still_talks(bot)


async def test_python_style_and_plain_json_metadata_both_work(bot_factory):
    bot = await bot_factory()
    a = await bot.call(callid="py-style", python_style=True)
    b = await bot.call(callid="json-style", python_style=False)
    bare = "{'callid': 'bare-dict', 'virtual_number': '+91', 'customer_number': '+92', 'call_type': 'inbound'}"
    c = await bot.call(metadata=bare)
    for node in (a, b, c):
        await node.wait_count("playAudio")
    assert {"py-style", "json-style", "bare-dict"} <= set(bot.server.sessions)


async def test_odd_length_audio_frame_ends_that_call(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory()
    other = await bot.call(callid="other")
    node = await bot.call(callid="odd")
    await node.wait_count("playAudio")
    await node.ws.send(b"\x00" * 641)
    await asyncio.wait_for(node.closed.wait(), 5)
    assert node.ws.close_code == 1007
    assert "odd-length audio frame (641 bytes)" in caplog.text
    await other.wait_count("playAudio")
    await asyncio.sleep(0.05)
    assert "odd" not in bot.server.sessions and "other" in bot.server.sessions
    await _still_talks(bot)


async def test_oversized_frame_ends_that_call(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(server_kw={"max_frame_bytes": 8192})
    node = await bot.call(callid="big")
    await node.wait_count("playAudio")
    await node.ws.send(b"\x00" * 10_000)
    await asyncio.wait_for(node.closed.wait(), 5)
    assert node.ws.close_code == 1009
    await asyncio.sleep(0.05)
    assert "frame larger than 8192 bytes" in caplog.text
    assert "big" not in bot.server.sessions
    await _still_talks(bot)


async def test_metadata_timeout_closes_a_silent_connection(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(server_kw={"metadata_timeout_s": 0.2})
    async with connect(bot.url(), compression=None) as ws:
        await _expect_closed(ws, 1008)
    assert "no metadata within" in caplog.text


async def test_text_frames_after_metadata_are_ignored(bot_factory):
    bot = await bot_factory()
    node = await bot.call()
    await node.wait_count("playAudio")
    await node.ws.send('{"event": "mark"}')
    await node.ws.send(silence(16000, 20))
    await asyncio.sleep(0.1)
    assert "call-1" in bot.server.sessions


async def test_caller_vanishing_mid_reply_cancels_everything(bot_factory, caplog):
    """The socket dies (no close frame) while the LLM streams and TTS speaks: every task of
    the call is cancelled, the STT stream is closed, and no task outlives the call."""
    caplog.set_level(logging.INFO, logger="voice")
    slow_reply = ["One moment. ", 0.05, "Let me look that up for you. ", 0.05] + ["Still looking. ", 0.2] * 20
    llm = FakeLLM([slow_reply])
    tts = FakeTTS(ms_per_char=60)
    prov = FakeProviders(stt=FakeSTT(["where is my order"]), llm=llm, tts=tts)
    bot = await bot_factory(providers=prov)
    baseline = len(asyncio.all_tasks())
    node = await bot.call(callid="vanish")
    await node.wait_count("playAudio")
    await asyncio.sleep(0.3)
    await node.say(voiced(16000, 400))
    await node.wait_for(lambda n: llm.requests and tts.active > 0, what="reply in flight")
    session = bot.server.sessions["vanish"]
    assert session.active_tasks >= 2
    node.ws.transport.abort()  # no close frame: the caller just vanishes
    await asyncio.wait_for(node.closed.wait(), 5)
    deadline = asyncio.get_running_loop().time() + 5
    while ("vanish" in bot.server.sessions or len(asyncio.all_tasks()) > baseline) and \
            asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert "vanish" not in bot.server.sessions
    assert session.closed and session.active_tasks == 0
    assert llm.cancelled == 1 and tts.active == 0
    assert all(s.closed for s in prov.stt.streams)
    leftover = [t for t in asyncio.all_tasks() if "vanish" in t.get_name()]
    assert not leftover, leftover
    assert len(asyncio.all_tasks()) <= baseline
    assert "call ended: connection lost" in caplog.text


async def test_many_faults_at_once_leave_the_server_serving(bot_factory):
    bot = await bot_factory()
    good = await bot.call(callid="good")
    bad = []
    for first in [b"\x01\x02", "nope", '{"callid": ""}']:
        ws = await connect(bot.url(), compression=None)
        await ws.send(first)
        bad.append(ws)
    odd = await bot.call(callid="odd")
    await odd.ws.send(b"\x00" * 3)
    for ws in bad:
        await _expect_closed(ws)
    await good.wait_count("playAudio")
    await _still_talks(bot, "after-faults")
    assert "good" in bot.server.sessions


async def test_bad_sample_rate_in_url_is_refused_before_the_call(bot_factory):
    bot = await bot_factory()
    for bad in ("11025", "fast", "16kk"):
        with pytest.raises(InvalidStatus) as err:
            await connect(bot.server.url + f"?sample_rate={bad}")
        assert err.value.response.status_code == 400
    assert not bot.providers.stt.streams


async def test_unknown_path_is_404(bot_factory):
    bot = await bot_factory()
    with pytest.raises(InvalidStatus) as err:
        await connect(bot.server.url.rsplit("/", 1)[0] + "/elsewhere")
    assert err.value.response.status_code == 404
    # the health check answers plain HTTP
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert protocol.MAX_METADATA_BYTES > 0
