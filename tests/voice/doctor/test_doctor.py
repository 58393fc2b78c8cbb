"""`kconsole doctor`: every check passes on a good setup and fails for its own reason.

Vendors are loopback servers that answer the doctor's key checks as the real APIs do
(200 for the good key, 401 for another); TLS certificates come from trustme.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from websockets.asyncio.server import serve

from tests.voice.core.core_fakes import FakeProviders, FakeTTS
from voice.config import BotSettings
from voice.doctor.checks import (
    DoctorOptions,
    check_greeting,
    check_port,
    check_rate,
    check_route,
    check_transport,
    run_doctor,
)
from voice.doctor.tls import check_tls
from voice.doctor.vendors import check_keys
from voice.protocol import play_audio
from voice.server import BotServer

GOOD = "good-key-123"


def settings(**kw: Any) -> BotSettings:
    base: dict[str, Any] = {"bot_host": "127.0.0.1", "bot_port": 0}
    base.update(kw)
    return BotSettings(_env_file=None, **base)  # type: ignore[call-arg]


def by_check(results: list[Any], check: str) -> Any:
    found = [r for r in results if r.check == check]
    assert found, f"no {check!r} in {[r.check for r in results]}"
    return found[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the port ---------------------------------------------------------------------------------


async def test_a_free_port_is_ok() -> None:
    result, running = await check_port(settings(bot_port=free_port()))
    assert result.status == "ok" and "is free" in result.message and not running


async def test_a_port_held_by_another_process_names_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result, running = await check_port(settings(bot_port=port))
    assert result.status == "fail" and not running
    assert f"port {port} is already in use by process {os.getpid()} (" in result.message
    assert "python" in result.message and f"kill {os.getpid()}" in result.fix


async def test_a_port_held_by_a_kconsole_bot_is_that_bot_checked() -> None:
    async with BotServer(settings(), providers=FakeProviders(tts=FakeTTS(ms_per_char=1))) as bot:
        s = settings(bot_port=bot.port)
        result, running = await check_port(s)
        assert result.status == "ok" and "held by a running kconsole bot" in result.message and running
        results = await run_doctor(s, providers=FakeProviders(tts=FakeTTS(ms_per_char=1)))
        assert by_check(results, "selfcall").status == "ok"


# ---- transport and TLS ------------------------------------------------------------------------


def test_plain_ws_off_loopback_is_refused_unless_insecure_is_allowed() -> None:
    [r] = check_transport(settings(bot_host="0.0.0.0"), DoctorOptions())
    assert r.status == "fail" and "ws:// on 0.0.0.0 is refused" in r.message and "--cert" in r.fix
    [r] = check_transport(settings(bot_host="0.0.0.0"), DoctorOptions(allow_insecure=True))
    assert r.status == "warn"
    [r] = check_transport(settings(), DoctorOptions())
    assert r.status == "ok"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def write_cert(ca: trustme.CA, tmp_path: Path, *names: str, **kw: Any) -> tuple[Path, Path]:
    cert = ca.issue_cert(*names, **kw)
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return cert_path, key_path


def test_a_good_certificate(ca: trustme.CA, tmp_path: Path) -> None:
    cert, key = write_cert(ca, tmp_path, "bot.example.com")
    results = check_tls(cert, key, "bot.example.com")
    assert [r.status for r in results] == ["ok", "ok", "ok"]


def test_an_expired_certificate_fails(ca: trustme.CA, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    cert, key = write_cert(ca, tmp_path, "bot.example.com", not_before=now - dt.timedelta(days=30),
                           not_after=now - dt.timedelta(days=1))
    r = by_check(check_tls(cert, key, "bot.example.com"), "tls.expiry")
    assert r.status == "fail" and "expired on" in r.message and "renew" in r.fix


def test_a_certificate_about_to_expire_warns(ca: trustme.CA, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    cert, key = write_cert(ca, tmp_path, "bot.example.com", not_after=now + dt.timedelta(days=3, hours=1))
    r = by_check(check_tls(cert, key, "bot.example.com"), "tls.expiry")
    assert r.status == "warn" and "expires in 3 days" in r.message


def test_a_certificate_for_another_host_fails(ca: trustme.CA, tmp_path: Path) -> None:
    cert, key = write_cert(ca, tmp_path, "old.example.com")
    s = settings(tls_cert=cert, tls_key=key)
    r = by_check(check_transport(s, DoctorOptions(public_url="wss://bot.example.com/voice")), "tls.name")
    assert r.status == "fail" and "is for old.example.com, not bot.example.com" in r.message
    assert by_check(check_tls(cert, key, "x.old.example.com"), "tls.name").status == "fail"
    wild, wkey = write_cert(ca, tmp_path, "*.example.com")
    assert by_check(check_tls(wild, wkey, "bot.example.com"), "tls.name").status == "ok"


def test_a_key_of_another_certificate_fails(ca: trustme.CA, tmp_path: Path) -> None:
    cert, _ = write_cert(ca, tmp_path, "bot.example.com")
    other = ca.issue_cert("bot.example.com")
    other_key = tmp_path / "other-key.pem"
    other.private_key_pem.write_to_path(str(other_key))
    [r] = check_tls(cert, other_key, "bot.example.com")
    assert r.status == "fail" and "does not belong to the certificate" in r.message


def test_missing_tls_files_fail(tmp_path: Path) -> None:
    [r] = check_tls(tmp_path / "nope.pem", tmp_path / "nokey.pem", None)
    assert r.status == "fail" and "certificate file not found" in r.message
    [r] = check_transport(settings(tls_cert=tmp_path / "c.pem"), DoctorOptions())
    assert r.status == "fail" and "both a certificate and a key" in r.message


# ---- the Stream Node's URL and rate ---------------------------------------------------------


def test_the_route_must_match_the_stream_nodes_path() -> None:
    [r] = check_route(settings(), DoctorOptions(public_url="wss://bot.example.com/stream"))
    assert r.status == "fail" and "HTTP 404" in r.message and "/stream does not match the bot's route /voice" in r.message
    [r] = check_route(settings(), DoctorOptions(public_url="wss://bot.example.com/voice/"))
    assert r.status == "ok"
    [r] = check_route(settings(), DoctorOptions())
    assert r.status == "warn" and "--public-url" in r.fix


def test_a_token_protected_bot_needs_the_token_in_the_url() -> None:
    s = settings(bot_token="s3cret-token")
    [r] = check_route(s, DoctorOptions(public_url="wss://bot.example.com/voice"))
    assert r.status == "fail" and "HTTP 403" in r.message and "carries none" in r.message
    [r] = check_route(s, DoctorOptions(public_url="wss://bot.example.com/voice/wrong"))
    assert r.status == "fail" and "not the bot's BOT_TOKEN" in r.message
    assert "s3cret" not in r.message + r.fix
    [r] = check_route(s, DoctorOptions(public_url="wss://bot.example.com/voice/s3cret-token"))
    assert r.status == "ok" and "token included" in r.message
    [r] = check_route(s, DoctorOptions(public_url="wss://bot.example.com/voice?token=s3cret-token"))
    assert r.status == "ok"


def test_a_ws_public_url_fails() -> None:
    results = check_route(settings(), DoctorOptions(public_url="ws://bot.example.com/voice"))
    assert results[0].status == "fail" and "WSS only" in results[0].message


def test_the_stream_nodes_rate_must_match() -> None:
    [r] = check_rate(settings(bot_sample_rate=16000), DoctorOptions(stream_rate=8000))
    assert r.status == "fail" and "sends 8000 Hz but the bot plays 16000 Hz" in r.message
    [r] = check_rate(settings(bot_sample_rate=8000), DoctorOptions(stream_rate=8000))
    assert r.status == "ok"
    [r] = check_rate(settings(), DoctorOptions(public_url="wss://h/voice?sample_rate=8k", stream_rate=8000))
    assert r.status == "ok"  # the URL's per-call rate is what the bot plays


# ---- provider keys -------------------------------------------------------------------------


@pytest.fixture
async def vendors() -> AsyncIterator[str]:
    """Deepgram, OpenAI and Cartesia's key-check endpoints on one loopback server."""

    async def deepgram(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token {GOOD}":
            return web.json_response({"err_code": "INVALID_AUTH"}, status=401)
        return web.json_response({"projects": []})

    async def models(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {GOOD}":
            return web.json_response({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                                "code": "invalid_api_key"}}, status=401)
        return web.json_response({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0,
                                                              "owned_by": "openai"}]})

    async def voice(request: web.Request) -> web.Response:
        if request.headers.get("X-API-Key") != GOOD or not request.headers.get("Cartesia-Version"):
            return web.json_response({"error": "unauthorized"}, status=401)
        if request.match_info["voice"] != "voice-1":
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"id": "voice-1", "name": "Test"})

    app = web.Application()
    app.router.add_get("/v1/projects", deepgram)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/voices/{voice}", voice)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"127.0.0.1:{port}"
    await runner.cleanup()


def vendor_settings(host: str, key: str = GOOD, **kw: Any) -> BotSettings:
    base: dict[str, Any] = {"cartesia_voice_id": "voice-1", **kw}
    return settings(deepgram_api_key=key, deepgram_url=f"ws://{host}/v1/listen", openai_api_key=key,
                    openai_base_url=f"http://{host}/v1", cartesia_api_key=key, cartesia_url=f"http://{host}", **base)


async def test_good_keys_are_accepted(vendors: str) -> None:
    results = await check_keys(vendor_settings(vendors), timeout=3)
    assert [(r.check, r.status) for r in results] == [("keys.deepgram", "ok"), ("keys.openai", "ok"), ("keys.cartesia", "ok")]


async def test_refused_keys_fail_without_showing_them(vendors: str) -> None:
    results = await check_keys(vendor_settings(vendors, key="bad-key-999"), timeout=3)
    assert [r.status for r in results] == ["fail", "fail", "fail"]
    assert "refused DEEPGRAM_API_KEY (HTTP 401)" in results[0].message
    assert "refused OPENAI_API_KEY (HTTP 401)" in results[1].message
    assert "refused CARTESIA_API_KEY (HTTP 401)" in results[2].message
    assert all("bad-key-999" not in r.message + r.fix for r in results)


async def test_an_unknown_cartesia_voice_fails(vendors: str) -> None:
    results = await check_keys(vendor_settings(vendors, cartesia_voice_id="nope"), timeout=3)
    r = by_check(results, "keys.cartesia")
    assert r.status == "fail" and "no voice 'nope'" in r.message and "CARTESIA_VOICE_ID" in r.fix


async def test_unreachable_vendors_are_said_to_be_unreachable() -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    results = await check_keys(vendor_settings(host), timeout=2)
    assert [r.status for r in results] == ["warn", "warn", "warn"]
    assert all("unreachable from here" in r.message and "not checked" in r.message for r in results)


async def test_a_chosen_vendor_without_its_key_fails() -> None:
    [r] = await check_keys(settings(stt_provider="deepgram"), timeout=1)
    assert r.status == "fail" and "DEEPGRAM_API_KEY" in r.message


async def test_no_keys_means_offline_providers() -> None:
    [r] = await check_keys(settings(), timeout=1)
    assert r.status == "ok" and "offline providers" in r.message


# ---- the greeting ---------------------------------------------------------------------------


class SilentTTS:
    name = "silent"

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        yield bytes(2 * sample_rate // 2)


async def test_the_greeting_renders_as_16_bit_mono_at_the_rate() -> None:
    r = await check_greeting(settings(bot_sample_rate=8000), FakeProviders(tts=FakeTTS(ms_per_char=5)))
    assert r.status == "ok" and "at 8000 Hz as 16-bit mono WAV" in r.message


async def test_a_failing_voice_fails_the_greeting_and_a_fallback_is_a_warning() -> None:
    r = await check_greeting(settings(), FakeProviders(tts=FakeTTS(fail=True)))
    assert r.status == "fail" and "faketts is down" in r.message
    r = await check_greeting(settings(), FakeProviders(tts=FakeTTS(fail=True), fallback_tts=FakeTTS(name="espeak")))
    assert r.status == "warn" and "fallback voice only" in r.message


async def test_a_silent_or_empty_greeting_fails() -> None:
    r = await check_greeting(settings(), FakeProviders(tts=SilentTTS()))
    assert r.status == "fail" and "silence" in r.message
    r = await check_greeting(settings(greeting="  "), FakeProviders())
    assert r.status == "fail" and "GREETING is empty" in r.message


# ---- self-calls ---------------------------------------------------------------------------


async def test_a_good_bot_is_greeted_within_the_limit_and_the_public_url_reaches_it() -> None:
    port = free_port()
    s = settings(bot_port=port)
    results = await run_doctor(s, DoctorOptions(public_url=f"ws://127.0.0.1:{port}/voice"),
                               providers=FakeProviders(tts=FakeTTS(ms_per_char=1)))
    sc = by_check(results, "selfcall")
    assert sc.status == "ok" and "greeted in" in sc.message
    pub = by_check(results, "public.call")
    assert pub.status == "ok" and "reaches this bot" in pub.message


async def fake_stream_node_peer(handler: Any) -> Any:
    return await serve(handler, "127.0.0.1", 0)


async def test_silence_on_connect_fails_the_self_call() -> None:
    async def mute(ws: Any) -> None:
        await ws.recv()
        await asyncio.sleep(5)

    from voice.doctor.checks import judge_self_call
    from voice.doctor.selfcall import self_call

    async with await fake_stream_node_peer(mute) as server:
        port = server.sockets[0].getsockname()[1]
        res = await self_call(f"ws://127.0.0.1:{port}/voice", sample_rate=16000, callid="x", limit_s=0.3)
    r = judge_self_call(res, settings(), 0.3, check="selfcall", where="self-call")
    assert r.status == "fail" and "no playAudio within 0.3 s" in r.message and "greeting at once" in r.fix


async def test_a_greeting_at_the_wrong_rate_fails_the_self_call() -> None:
    async def wrong_rate(ws: Any) -> None:
        await ws.recv()
        await ws.send(play_audio(bytes(1600), 8000))
        await asyncio.sleep(1)

    from voice.doctor.checks import judge_self_call
    from voice.doctor.selfcall import self_call

    async with await fake_stream_node_peer(wrong_rate) as server:
        port = server.sockets[0].getsockname()[1]
        res = await self_call(f"ws://127.0.0.1:{port}/voice", sample_rate=16000, callid="x", limit_s=1)
    r = judge_self_call(res, settings(), 1, check="selfcall", where="self-call")
    assert r.status == "fail" and "8000 Hz on a 16000 Hz stream" in r.message


async def test_a_self_call_to_the_wrong_route_is_the_404_item() -> None:
    async with BotServer(settings(bot_path="/other"), providers=FakeProviders(tts=FakeTTS(ms_per_char=1))) as bot:
        results = await run_doctor(settings(bot_port=bot.port), providers=FakeProviders(tts=FakeTTS(ms_per_char=1)))
    sc = by_check(results, "selfcall")
    assert sc.status == "fail" and "HTTP 404" in sc.message and "stop any other server on the port" in sc.fix


async def test_a_changed_public_url_is_detected() -> None:
    port = free_port()
    gone = f"ws://127.0.0.1:{free_port()}/voice"  # nothing there any more (a restarted tunnel)
    results = await run_doctor(settings(bot_port=port), DoctorOptions(public_url=gone),
                               providers=FakeProviders(tts=FakeTTS(ms_per_char=1)))
    r = by_check(results, "public.call")
    assert r.status == "fail" and "does not reach any server" in r.message and "ngrok http" in r.fix


async def test_a_public_url_that_reaches_another_bot_is_detected() -> None:
    async with BotServer(settings(), providers=FakeProviders(tts=FakeTTS(ms_per_char=1))) as other:
        results = await run_doctor(settings(bot_port=free_port()), DoctorOptions(public_url=other.url),
                                   providers=FakeProviders(tts=FakeTTS(ms_per_char=1)))
    r = by_check(results, "public.call")
    assert r.status == "fail" and "not this bot" in r.message


async def test_an_ngrok_tunnel_not_found_is_detected() -> None:
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    def refuse(connection: Any, request: Any) -> Response:
        return Response(404, "Not Found", Headers({"ngrok-error-code": "ERR_NGROK_3200", "Content-Length": "31"}),
                        b"Tunnel abc.ngrok-free.app not found")

    async def never(ws: Any) -> None:  # pragma: no cover
        pass

    async with serve(never, "127.0.0.1", 0, process_request=refuse) as tunnel:
        url = f"ws://127.0.0.1:{tunnel.sockets[0].getsockname()[1]}/voice"
        results = await run_doctor(settings(bot_port=free_port()), DoctorOptions(public_url=url),
                                   providers=FakeProviders(tts=FakeTTS(ms_per_char=1)))
    r = by_check(results, "public.call")
    assert r.status == "fail" and "the tunnel is gone" in r.message and "IVR Studio" in r.fix


async def test_a_public_certificate_nobody_trusts_fails(ca: trustme.CA, tmp_path: Path) -> None:
    cert, key = write_cert(ca, tmp_path, "127.0.0.1")
    port = free_port()
    s = settings(bot_port=port, tls_cert=cert, tls_key=key)
    results = await run_doctor(s, DoctorOptions(public_url=f"wss://127.0.0.1:{port}/voice"),
                               providers=FakeProviders(tts=FakeTTS(ms_per_char=1)))
    assert by_check(results, "selfcall").status == "ok"  # the local call does not judge the certificate
    r = by_check(results, "public.call")
    assert r.status == "fail" and "not trusted" in r.message
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    results = await run_doctor(s, DoctorOptions(public_url=f"wss://127.0.0.1:{port}/voice", cafile=ca_file),
                               providers=FakeProviders(tts=FakeTTS(ms_per_char=1)))
    assert by_check(results, "public.call").status == "ok"
    assert by_check(results, "tls.name").status == "ok"


# ---- the command -----------------------------------------------------------------------------


def test_the_command_exits_non_zero_on_a_failure(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from console.cli import main

    for key in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "BOT_TOKEN", "OPENAI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    code = main(["doctor", "--port", "0", "--stream-rate", "8k", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["ok"] is False
    assert by_check([type("R", (), r) for r in out["checks"]], "rate").status == "fail"
    code = main(["doctor", "--port", "0"])
    text = capsys.readouterr().out
    assert code == 0 and "0 failures" in text and "[ok  ] self-call through the bot's endpoint: greeted in" in text
