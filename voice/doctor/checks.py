"""The doctor's checks, in the order a developer should fix them.

`run_doctor` takes the bot's settings (what `kconsole bot` would run with) and returns
one `CheckResult` per line. When the bot's port is free, the doctor starts the bot
itself on it for the self-call (and stops it after); when a kconsole bot already holds
the port, that bot is called instead; any other holder is named as the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import ssl
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from kcommon.errors import ConfigError
from voice.audio import rms_dbfs
from voice.bus import CallStarted
from voice.config import BotSettings
from voice.doctor.ports import find_holder, is_in_use, try_bind
from voice.doctor.result import CheckResult, fail, ok, warn
from voice.doctor.selfcall import SelfCall, self_call
from voice.doctor.tls import check_tls
from voice.doctor.vendors import check_keys
from voice.protocol import pcm_to_wav
from voice.server import BotServer, is_loopback, parse_rate

GREETING_LIMIT_S = 2.0  # the guide, issue 1: the call "drops within 1-2 seconds" without audio
NGROK_FIX = ("if it is an ngrok URL: ngrok gives a new one on each restart. Run `ngrok http {port}`, put the new "
             "wss://.../{path} in the Stream Node's wss-url in IVR Studio and save the flow; for production use a "
             "fixed domain with a valid certificate")
WILDCARDS = ("0.0.0.0", "::", "")


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    public_url: str | None = None      # the wss-url configured in the Stream Node
    stream_rate: int | None = None     # the Stream Node's sampling-rate, if known
    greeting_limit_s: float = GREETING_LIMIT_S
    vendor_timeout_s: float = 5.0
    cafile: Path | None = None         # trust this CA when calling the public URL (tests, private CAs)
    allow_insecure: bool = False       # as `kconsole bot --allow-insecure`


def _connect_host(host: str) -> str:
    if host in WILDCARDS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _is_public_host(host: str) -> bool:
    return not (is_loopback(host) or host in WILDCARDS)


# ---- static checks: the configuration and the Stream Node's URL -------------------------------


def check_transport(settings: BotSettings, opts: DoctorOptions) -> list[CheckResult]:
    """WSS only: plain ws:// is refused off loopback; TLS files are checked when given."""
    s = settings
    out: list[CheckResult] = []
    public_host = urlsplit(opts.public_url).hostname if opts.public_url else None
    if s.tls_cert is not None or s.tls_key is not None:
        if s.tls_cert is None or s.tls_key is None:
            return [fail("tls", "TLS needs both a certificate and a key; only one is set",
                         "give both --cert and --key (TLS_CERT / TLS_KEY)")]
        name_host = public_host or (s.bot_host if _is_public_host(s.bot_host) else None)
        return check_tls(s.tls_cert, s.tls_key, name_host)
    if not is_loopback(s.bot_host):
        if opts.allow_insecure:
            out.append(warn("ws", f"plain ws:// on {s.bot_host or '*'} (--allow-insecure): callers reach it unencrypted "
                                  "unless a TLS proxy is in front", "serve TLS (--cert/--key) or keep a TLS proxy in front"))
        else:
            out.append(fail("ws", f"plain ws:// on {s.bot_host or '*'} is refused: Knowlarity connects over WSS only",
                            "give --cert/--key (TLS_CERT/TLS_KEY), bind to 127.0.0.1 behind a TLS proxy (ngrok), "
                            "or pass --allow-insecure behind a TLS proxy"))
    else:
        out.append(ok("ws", f"plain ws:// on loopback {s.bot_host} (Knowlarity needs WSS: a TLS proxy such as ngrok in front)"))
    return out


def check_route(settings: BotSettings, opts: DoctorOptions) -> list[CheckResult]:
    """The path (and token) the Stream Node will use against the bot's route (issue 8)."""
    s = settings
    route = s.bot_path.rstrip("/") or "/"
    if not opts.public_url:
        return [warn("public", "no public URL given: the Stream Node's wss-url was not checked",
                     f"give --public-url wss://YOUR-HOST{route} (the wss-url in the Stream Node)")]
    parts = urlsplit(opts.public_url)
    out: list[CheckResult] = []
    if parts.scheme not in ("wss", "ws") or not parts.netloc:
        return [fail("public", f"the public URL must be wss://HOST/PATH (got {parts.scheme or 'no scheme'}://)",
                     "copy the https:// address of your tunnel or domain and write it as wss://")]
    if parts.scheme == "ws":
        out.append(fail("public", "the Stream Node's wss-url is ws://: Knowlarity connects over WSS only",
                        "use wss:// (ngrok's https address, or a domain with a certificate)"))
    path = parts.path.rstrip("/") or "/"
    query = parse_qs(parts.query)
    token = s.bot_token.get_secret_value() if s.bot_token else None
    given: str | None = (query.get("token") or [""])[0] or None
    if path != route and not path.startswith(route.rstrip("/") + "/"):
        out.append(fail("route", f"the Stream Node's path {path} does not match the bot's route {route}: it gets HTTP 404",
                        f"make the wss-url end in {route} (or start the bot with --path {path})"))
        return out
    if path != route:
        if token is None:
            out.append(fail("route", f"the path {path} has a segment after {route} but the bot has no token: HTTP 404",
                            f"use {route}, or set BOT_TOKEN to that segment"))
            return out
        given = path[len(route.rstrip("/")) + 1:]
    if token is not None:
        if given is None:
            out.append(fail("route", "the bot requires a token but the Stream Node's URL carries none: HTTP 403",
                            f"append /<BOT_TOKEN> (or ?token=<BOT_TOKEN>) to the wss-url, after {route}"))
            return out
        if not hmac.compare_digest(given.encode(), token.encode()):
            out.append(fail("route", "the token in the Stream Node's URL is not the bot's BOT_TOKEN: HTTP 403",
                            "put the current BOT_TOKEN in the wss-url"))
            return out
    out.append(ok("route", f"the Stream Node's path matches the bot's route {route}" + (" (token included)" if token else "")))
    return out


def check_rate(settings: BotSettings, opts: DoctorOptions) -> list[CheckResult]:
    """The Stream Node's sampling-rate against what the bot renders (issue 4)."""
    rate = settings.bot_sample_rate
    if opts.public_url:
        raw = (parse_qs(urlsplit(opts.public_url).query).get("sample_rate") or [""])[0]
        if raw:
            try:
                rate = parse_rate(raw)
            except ValueError as exc:
                return [fail("rate", f"the public URL's sample_rate: {exc}", "use 8000, 16000, 24000, 32000 or 48000")]
    label = f"{rate // 1000}k"
    if opts.stream_rate is None:
        return [ok("rate", f"the bot streams at {rate} Hz: the Stream Node's sampling-rate must be {label}")]
    if opts.stream_rate != rate:
        return [fail("rate", f"the Stream Node sends {opts.stream_rate} Hz but the bot plays {rate} Hz: the caller hears "
                             "noise or silence",
                     f"set sampling-rate {label} in the Stream Node, or BOT_SAMPLE_RATE={opts.stream_rate}")]
    return [ok("rate", f"the Stream Node's sampling-rate matches the bot ({rate} Hz)")]


# ---- the port ---------------------------------------------------------------------------------


async def _kconsole_bot_on(settings: BotSettings, port: int) -> bool:
    scheme = "https" if settings.tls_cert else "http"
    url = f"{scheme}://{_connect_host(settings.bot_host)}:{port}/healthz"
    try:
        async with httpx.AsyncClient(timeout=2.0, verify=False) as client:  # noqa: S501 - a liveness probe of our own port
            resp = await client.get(url)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and resp.text.strip() == "ok"


async def check_port(settings: BotSettings) -> tuple[CheckResult, bool]:
    """(result, a kconsole bot is already running there)."""
    host, port = settings.bot_host, settings.bot_port
    if port == 0:
        return ok("port", "port 0: the bot takes any free port"), False
    error = try_bind(host or "0.0.0.0", port)
    if error is None:
        return ok("port", f"port {port} on {host or '*'} is free"), False
    if not is_in_use(error):
        return fail("port", f"cannot listen on {host}:{port}: {error.strerror or error}",
                    "use a port above 1024 (--port / BOT_PORT), or an address this machine has"), False
    if await _kconsole_bot_on(settings, port):
        holder = find_holder(port)
        who = f" ({holder.describe()})" if holder.pid else ""
        return ok("port", f"port {port} is held by a running kconsole bot{who}: checking that bot"), True
    holder = find_holder(port)
    kill = f"kill {holder.pid}" if holder.pid else f"kill $(lsof -ti :{port})"
    return fail("port", f"port {port} is already in use by {holder.describe()}",
                f"stop it ({kill}) or give the bot another port (--port / BOT_PORT)"), False


# ---- what the caller hears first ----------------------------------------------------------------


async def check_greeting(settings: BotSettings, providers: Any) -> CheckResult:
    """Render the greeting with the bot's voice at its rate; it must be 16-bit mono WAV, not silence."""
    rate = settings.bot_sample_rate
    text = settings.greeting
    if not text.strip():
        return fail("greeting", "GREETING is empty: the bot has nothing to say on connect and the call is dropped",
                    "set GREETING (the guide: always greet at once)")
    voices = [("the main voice", providers.tts)]
    if getattr(providers, "fallback_tts", None) is not None:
        voices.append(("the fallback voice", providers.fallback_tts))
    problems: list[str] = []
    for label, tts in voices:
        pcm = bytearray()
        try:
            async with asyncio.timeout(30):
                async for chunk in tts.synthesize(text, sample_rate=rate):
                    pcm += chunk
        except Exception as exc:  # noqa: BLE001 - any provider failure is this check's finding
            name = getattr(tts, "name", type(tts).__name__)
            problems.append(f"{label} ({name}) failed: {str(exc)[:120] or type(exc).__name__}")
            continue
        verdict = _wav_verdict(bytes(pcm), rate)
        if verdict is not None:
            problems.append(f"{label}: {verdict}")
            continue
        seconds = len(pcm) / 2 / rate
        if problems:
            return warn("greeting", f"greeting rendered by {label} only ({seconds:.1f} s at {rate} Hz); {problems[0]}",
                        "fix the main voice's provider (key, voice id, network)")
        return ok("greeting", f"greeting renders at {rate} Hz as 16-bit mono WAV ({seconds:.1f} s)")
    return fail("greeting", "the greeting cannot be rendered: " + "; ".join(problems),
                "fix the TTS provider (key, voice id, network), or use the offline voice (TTS_PROVIDER=local)")


def _wav_verdict(pcm: bytes, rate: int) -> str | None:
    """None if `pcm` wrapped as the bot wraps it is a playable 16-bit mono WAV with sound in it."""
    if not pcm:
        return "it produced no audio"
    if len(pcm) % 2:
        return "it produced a partial sample (not 16-bit PCM)"
    with wave.open(io.BytesIO(pcm_to_wav(pcm, rate))) as wf:
        if (wf.getnchannels(), wf.getsampwidth(), wf.getframerate()) != (1, 2, rate):
            return f"WAV is {wf.getnchannels()} ch, {8 * wf.getsampwidth()}-bit, {wf.getframerate()} Hz"
    if rms_dbfs(pcm) < -60:
        return "it is silence (the caller would hear nothing)"
    return None


# ---- calls ------------------------------------------------------------------------------------


def _local_url(settings: BotSettings, port: int) -> str:
    scheme = "wss" if settings.tls_cert else "ws"
    url = f"{scheme}://{_connect_host(settings.bot_host)}:{port}{settings.bot_path}"
    if settings.bot_token:
        url += "?token=" + quote(settings.bot_token.get_secret_value(), safe="")
    return url


def _no_verify() -> ssl.SSLContext:
    """The local self-call checks the route and the greeting; the certificate is checked on its own."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def judge_self_call(result: SelfCall, settings: BotSettings, limit_s: float, *, check: str, where: str) -> CheckResult:
    route = settings.bot_path
    if result.ok:
        assert result.greeting_ms is not None
        if result.sample_rate is not None and result.sample_rate != settings.bot_sample_rate:
            return fail(check, f"{where}: the greeting's WAV is {result.sample_rate} Hz on a {settings.bot_sample_rate} Hz "
                               "stream: the caller hears it at the wrong speed or not at all",
                        "make the TTS render at the stream's rate (BOT_SAMPLE_RATE)")
        return ok(check, f"{where}: greeted in {result.greeting_ms:.0f} ms (the Stream Node allows {limit_s:g} s)")
    if result.status == 404:
        return fail(check, f"{where}: HTTP 404: no WebSocket route at that path (the bot serves {route})",
                    f"make the URL's path {route} exactly; stop any other server on the port and restart the bot")
    if result.status in (401, 403):
        return fail(check, f"{where}: HTTP {result.status}: refused",
                    "the bot needs its token in the URL (/<BOT_TOKEN> or ?token=), or a stale server with other "
                    "routes holds the port: stop all processes on it and restart the bot cleanly")
    if result.status is not None:
        return fail(check, f"{where}: HTTP {result.status} ({result.body or 'no body'})", "check what serves that address")
    error = result.error or "failed"
    if error.startswith("no playAudio"):
        return fail(check, f"{where}: {error}: the Stream Node drops such a call within seconds (issue 1)",
                    "send the greeting at once on connect (GREETING; pre-rendered), and check the TTS provider")
    return fail(check, f"{where}: {error}", "check the bot's log for this call")


async def run_doctor(settings: BotSettings, opts: DoctorOptions | None = None, *,
                     providers: Any = None) -> list[CheckResult]:
    opts = opts or DoctorOptions()
    results: list[CheckResult] = []
    results += check_transport(settings, opts)
    results += check_route(settings, opts)
    results += check_rate(settings, opts)
    port_result, running = await check_port(settings)
    results.append(port_result)
    results += await check_keys(settings, timeout=opts.vendor_timeout_s)
    if providers is None:
        try:
            from voice.providers.factory import build_providers  # noqa: PLC0415 - vendor SDKs only for this check

            providers = build_providers(settings)
        except ConfigError as exc:
            results.append(fail("providers", f"the providers cannot be built: {exc}", "fix the setting it names"))
            return results
    results.append(await check_greeting(settings, providers))
    results += await _calls(settings, opts, providers, port_result, running)
    return results


async def _calls(settings: BotSettings, opts: DoctorOptions, providers: Any, port_result: CheckResult,
                 running: bool) -> list[CheckResult]:
    limit = opts.greeting_limit_s
    out: list[CheckResult] = []
    server: BotServer | None = None
    if port_result.status == "fail":
        return [fail("selfcall", "self-call not made: the port is not usable", "fix the port first")]
    if not running:
        server = BotServer(settings, providers=providers, allow_insecure=opts.allow_insecure)
        try:
            await server.start()
        except ConfigError as exc:
            return [fail("selfcall", f"self-call not made: the bot cannot start: {exc}", "fix the failures above")]
    try:
        port = server.port if server is not None else settings.bot_port
        sub = server.bus.subscribe(maxsize=1000) if server is not None else None
        callid = f"kconsole-doctor-{uuid.uuid4().hex[:8]}"
        local = await self_call(_local_url(settings, port), sample_rate=settings.bot_sample_rate, callid=callid,
                                limit_s=limit, ssl_context=_no_verify())
        out.append(judge_self_call(local, settings, limit, check="selfcall", where="self-call through the bot's endpoint"))
        if opts.public_url:
            out.append(await _public_call(settings, opts, sub, port))
        if sub is not None:
            sub.close()
    finally:
        if server is not None:
            await server.close()
    return out


async def _public_call(settings: BotSettings, opts: DoctorOptions, sub: Any, port: int) -> CheckResult:
    assert opts.public_url is not None
    callid = f"kconsole-doctor-{uuid.uuid4().hex[:8]}"
    ctx: ssl.SSLContext | None = None
    if opts.public_url.startswith("wss://"):
        try:
            ctx = ssl.create_default_context(cafile=str(opts.cafile) if opts.cafile else None)
        except (OSError, ssl.SSLError) as exc:
            return fail("public.call", f"cannot load the CA file {opts.cafile}: {exc}", "give a PEM CA certificate")
    result = await self_call(opts.public_url, sample_rate=settings.bot_sample_rate, callid=callid,
                             limit_s=opts.greeting_limit_s, ssl_context=ctx)
    path = settings.bot_path.lstrip("/")
    ngrok = NGROK_FIX.format(port=port, path=path)
    where = "the public URL"
    if not result.ok and result.status is None and result.error and result.error.startswith("cannot connect"):
        return fail("public.call", f"{where} does not reach any server: {result.error}", ngrok)
    if result.status == 404 and "ngrok" in result.body:
        return fail("public.call", f"{where}: the tunnel is gone (ngrok answered 404)", ngrok)
    if result.error and result.error.startswith("TLS certificate not trusted"):
        return fail("public.call", f"{where}: {result.error}: Knowlarity will refuse the handshake",
                    "serve a certificate from a public CA (e.g. Let's Encrypt) for that host, with its full chain")
    verdict = judge_self_call(result, settings, opts.greeting_limit_s, check="public.call", where=where)
    if verdict.status != "ok" or sub is None:
        return verdict
    seen = False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            while not seen:
                event = await sub.get()
                seen = isinstance(event, CallStarted) and event.call_id == callid
    if not seen:
        return fail("public.call", f"{where} answers and greets, but not this bot: it points to another server "
                                   "(an old tunnel or a stale deployment)", ngrok)
    return ok("public.call", verdict.message.replace(where, f"{where} reaches this bot;", 1))
