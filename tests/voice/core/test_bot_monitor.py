"""Tokens on /voice and /monitor, the monitor feed and supervisor commands, WSS."""

from __future__ import annotations

import asyncio
import json
import ssl

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from kcommon.errors import ConfigError
from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS, voiced
from tests.voice.core.harness import FAST, make_settings
from voice.bus import parse_monitor_event
from voice.server import BotServer


async def _refused(url: str, status: int = 403, **kw) -> None:
    with pytest.raises(InvalidStatus) as err:
        await connect(url, **kw)
    assert err.value.response.status_code == status


async def test_voice_token_rejects_strangers_before_any_provider_is_touched(bot_factory):
    bot = await bot_factory(bot_token="tok-123")
    await _refused(bot.url())
    await _refused(bot.url(token="wrong"))
    await _refused(bot.server.url + "/wrong")
    assert not bot.providers.stt.streams and not bot.server.sessions
    # in the query, in the path, or as a bearer header
    for url, kw in (
        (bot.url(token="tok-123"), {}),
        (bot.server.url + "/tok-123", {}),
        (bot.server.url, {"additional_headers": {"Authorization": "Bearer tok-123"}}),
    ):
        node = await bot.call(url=url, callid=f"ok-{len(bot.nodes)}", **kw)
        await node.wait_count("playAudio")


async def test_monitor_token(bot_factory):
    bot = await bot_factory(bot_token="voice-tok", monitor_token="mon-tok")
    await _refused(bot.server.monitor_url)
    await _refused(bot.server.monitor_url + "?token=voice-tok")  # the voice token is not the monitor's
    async with connect(bot.server.monitor_url + "?token=mon-tok"):
        pass
    async with connect(bot.server.monitor_url + "/mon-tok"):
        pass


async def test_monitor_falls_back_to_the_bot_token(bot_factory):
    bot = await bot_factory(bot_token="voice-tok")
    await _refused(bot.server.monitor_url + "?token=nope")
    async with connect(bot.server.monitor_url + "?token=voice-tok"):
        pass


async def test_public_monitor_without_a_token_is_refused():
    settings = make_settings(bot_host="0.0.0.0")
    server = BotServer(settings, providers=FakeProviders(), options=FAST, allow_insecure=True)
    await server.start()
    try:
        await _refused(f"ws://127.0.0.1:{server.port}/monitor")
    finally:
        await server.close()


async def test_monitor_streams_events_and_commands_reach_the_call(bot_factory):
    llm = FakeLLM(default=["We are open nine to five. ", "Anything else?"])
    prov = FakeProviders(stt=FakeSTT(["hours please"]), llm=llm, tts=FakeTTS(ms_per_char=5))
    bot = await bot_factory(providers=prov, monitor_token="m", transfer_number="+911111122222")
    early = await bot.call(callid="early")
    await early.wait_count("playAudio")
    async with connect(bot.server.monitor_url + "?token=m") as mon:
        frames: list[dict] = []

        async def read() -> None:
            async for raw in mon:
                frames.append(json.loads(raw))

        reader = asyncio.create_task(read())

        async def wait(pred, what: str) -> dict:
            for _ in range(500):
                for f in frames:
                    if pred(f):
                        return f
                await asyncio.sleep(0.01)
            raise AssertionError(f"no {what} in {[f.get('kind') for f in frames]}")

        # a call already running is announced on connect
        await wait(lambda f: f.get("kind") == "call_started" and f["call_id"] == "early", "catch-up")
        node = await bot.call(callid="watched")
        await node.wait_count("playAudio")
        await asyncio.sleep(0.2)
        await node.say(voiced(16000, 400))
        await wait(lambda f: f.get("kind") == "transcript" and f["final"] and f["text"] == "hours please", "transcript")
        await wait(lambda f: f.get("kind") == "bot_sentence" and f["call_id"] == "watched", "bot sentence")
        await wait(lambda f: f.get("kind") == "turn_metrics" and f["turn"] == 1, "turn metrics")
        # every event frame parses as the bus says
        for f in frames:
            if f.get("kind") != "command_result":
                parse_monitor_event(json.dumps(f))

        # say: interrupts, speaks the supervisor's line
        await mon.send(json.dumps({"command": "say", "call_id": "watched", "text": "A supervisor is listening."}))
        ok = await wait(lambda f: f.get("kind") == "command_result" and f["command"] == "say", "say result")
        assert ok["ok"] is True and ok["error"] is None
        await node.wait_for(lambda n: ("A supervisor is listening.", 16000) in prov.tts.calls, what="say line")

        # listen: audio frames for that call only
        await mon.send(json.dumps({"command": "listen", "call_id": "watched"}))
        await wait(lambda f: f.get("kind") == "command_result" and f["command"] == "listen" and f["ok"], "listen")
        await node.send_pcm(voiced(16000, 60))
        audio = await wait(lambda f: f.get("kind") == "audio", "audio frame")
        assert audio["call_id"] == "watched" and audio["source"] == "caller"

        # malformed commands get an error frame, never a crash
        for bad in ("not json", json.dumps({"command": "explode", "call_id": "x"}),
                    json.dumps({"command": "say", "call_id": "watched", "text": ""}),
                    json.dumps({"command": "transfer", "call_id": "nobody"}),
                    json.dumps({"command": "transfer", "call_id": "watched", "destination": "drop table"})):
            frames.clear()
            await mon.send(bad)
            res = await wait(lambda f: f.get("kind") == "command_result", f"error for {bad}")
            assert res["ok"] is False and res["error"], bad
        await mon.send(b"\x00\x01")
        res = await wait(lambda f: f.get("kind") == "command_result", "error for binary")
        assert res["ok"] is False

        # transfer to the configured number
        await mon.send(json.dumps({"command": "transfer", "call_id": "watched"}))
        await node.wait_count("transfer", timeout=5)
        assert next(r.event for r in node.events if r.event.type == "transfer").destination == "+911111122222"
        await wait(lambda f: f.get("kind") == "transferred" and f["call_id"] == "watched", "transferred event")

        # hangup: goodbye then disconnect, on the other call
        await mon.send(json.dumps({"command": "hangup", "call_id": "early"}))
        await early.wait_count("disconnect", timeout=5)
        assert ("Thank you for calling. Goodbye!", 16000) in prov.tts.calls or early.count("playAudio") > 1
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    for _ in range(200):  # the server notices the close asynchronously
        if bot.server.bus.subscriber_count == 0:
            break
        await asyncio.sleep(0.01)
    assert bot.server.bus.subscriber_count == 0  # the monitor's subscription went with it


async def test_in_process_commands_through_the_bus(bot_factory):
    bot = await bot_factory()
    node = await bot.call(callid="c1")
    await node.wait_count("playAudio")
    from voice.bus import HangupCommand, SayCommand

    assert await bot.server.bus.send_command(SayCommand(call_id="c1", text="Hello from the console.")) is None
    assert "no active call" in (await bot.server.bus.send_command(HangupCommand(call_id="zz")) or "")
    assert await bot.server.bus.send_command(HangupCommand(call_id="c1")) is None
    await node.wait_count("disconnect", timeout=5)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    d = tmp_path_factory.mktemp("tls")
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return cert_path, key_path, client_ctx


async def test_wss_with_a_local_certificate(bot_factory, tls_files):
    cert, key, client_ctx = tls_files
    bot = await bot_factory(tls_cert=cert, tls_key=key, bot_token="t")
    assert bot.server.url.startswith("wss://")
    node = await bot.call(url=bot.url(token="t"), ssl=client_ctx)
    await node.wait_count("playAudio")
    # a client that does not trust the certificate cannot connect
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(bot.url(token="t"), ssl=ssl.create_default_context())


async def test_plain_ws_on_a_public_interface_needs_an_explicit_flag(tls_files):
    with pytest.raises(ConfigError, match="allow-insecure"):
        await BotServer(make_settings(bot_host="0.0.0.0"), providers=FakeProviders(), options=FAST).start()
    cert, _, _ = tls_files
    with pytest.raises(ConfigError, match="both"):
        await BotServer(make_settings(tls_cert=cert), providers=FakeProviders(), options=FAST).start()
    with pytest.raises(ConfigError, match="not found"):
        await BotServer(make_settings(tls_cert=cert, tls_key=cert.parent / "missing.pem"),
                        providers=FakeProviders(), options=FAST).start()
