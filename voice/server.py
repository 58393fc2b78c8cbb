"""BotServer: the WebSocket server Knowlarity's Stream Node connects to, plus /monitor.

One `websockets.asyncio.server` serves two routes:

- `settings.bot_path` (default /voice): one `CallSession` per connection. The first frame
  must be the metadata (JSON, or a JSON string of a Python-style dict); every later frame
  is binary PCM at the stream's rate — `settings.bot_sample_rate`, or per connection
  `?sample_rate=8000` (also "8k"). 8, 16, 24, 32 and 48 kHz are accepted.
- `/monitor`: the session events of `voice.bus` as JSON frames, and supervisor commands
  the other way (transfer, hangup, say, listen). Each command gets one reply frame:
  `{"kind": "command_result", "ok": true|false, "command": ..., "call_id": ..., "error": ...}`.

Authentication happens in `process_request`, during the HTTP upgrade, so a stranger is
refused with 403 before any session exists or any provider is touched. The voice token
(`settings.bot_token`) may be given as `?token=`, as a last path segment
(`/voice/TOKEN`, handy for Stream Node URLs) or as `Authorization: Bearer`. The monitor
token is `settings.monitor_token`, else the bot token; with neither, /monitor is refused
unless `settings.monitor_open` says so explicitly, and then on loopback only. A request
carrying an `Origin` header (every browser sends one; the Stream Node sends none) is refused
on both routes unless that origin is in `settings.bot_allowed_origins`: a web page open on
the operator's machine cannot watch or steer calls. Plain ws:// is refused unless the host
is loopback or `allow_insecure`.

Every way a call can go wrong — no metadata, binary before metadata, broken metadata, an
odd-length audio frame, a frame over `max_frame_bytes`, a vanished client, a bug in the
session — ends that call alone with one log line; the server and the other calls go on.

Limits (`voice.limits`; README, "Limits"): at most `BOT_MAX_CALLS` calls (the next is
refused with close code 1013); a call with no audio for `BOT_IDLE_TIMEOUT_S` after its
metadata is ended (pings do not count: a socket that only answers pings is not a call);
audio faster than `BOT_MAX_AUDIO_SPEED` x real time is dropped before the session sees it,
and more than `BOT_MAX_FRAMES_PER_S` frames a second are read late (TCP pushes back on
the sender), so one connection cannot take the CPU every other call needs. Recordings
are kept within `RECORD_MAX_MB` / `RECORD_MAX_AGE_DAYS` (`voice.recording.RecordingStore`).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import http
import ipaddress
import json
import logging
import re
import ssl
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from kcommon.errors import ConfigError
from kcommon.redact import redact_url
from kcommon.text import escape_controls
from voice import protocol
from voice.bus import (
    BotSentence,
    CallStarted,
    EventBus,
    HangupCommand,
    ListenCommand,
    MonitorCommand,
    SayCommand,
    StateChanged,
    TranscriptEvent,
    TransferCommand,
    parse_command,
    to_json,
)
from voice.clock import Clock, MonotonicClock
from voice.config import SUPPORTED_RATES, BotSettings, normalise_origin, register_secrets
from voice.limits import AudioBudget, CallSlots, Coalescer, LoopStalls, ThrottledLog, describe_totals
from voice.logs import CallLog
from voice.memory import give_back_memory
from voice.metrics import ServerStats
from voice.outcome import Ending
from voice.prompts import PromptCache
from voice.recording import CallRecorder, RecordingStore
from voice.session import CallGone, CallSession, SessionOptions
from voice.streamlog import StreamTally

if TYPE_CHECKING:
    from voice.providers.factory import ProviderSet

log = logging.getLogger("voice.server")
_server_log = CallLog("-", "SERVER", log)
MONITOR_PATH = "/monitor"
HEALTH_PATH = "/healthz"
WORD_KINDS = frozenset({"bot_sentence", "transcript"})
# Bytes asyncio reads from one voice socket per loop turn (its default is 256 KiB). Every
# byte read is parsed into frames at once; 4 KiB of the smallest frames is ~500 of them,
# ~2 ms of parsing, so one flooding caller cannot hold the loop for tens of ms per read.
VOICE_READ_BYTES = 4096
GIVE_BACK_AFTER_S = 1.0


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_RATE = re.compile(r"(\d{1,6})(?:\.(\d{1,3}))?(k?)", re.ASCII | re.IGNORECASE)


def parse_rate(value: str) -> int:
    """'16000', '16k', '16K' or '16.0k' -> 16000; ValueError for anything else.

    ASCII digits only, a few of them, and no float conversion: `infk`, `1e400k`, a 5,000-digit
    number or full-width digits ('１６０００', which int() would take) are refused with a reason."""
    text = value.strip()
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(f"sample_rate {escape_controls(text[:12])!r} is not a rate (say 8000 or 8k)")
    whole, fraction, kilo = match.groups()
    if kilo:
        rate = int(whole) * 1000 + int((fraction or "0").ljust(3, "0"))
    elif fraction is not None:
        raise ValueError(f"sample_rate {escape_controls(text[:12])!r} is not a whole number of Hz")
    else:
        rate = int(whole)
    if rate not in SUPPORTED_RATES:
        raise ValueError(f"sample_rate must be one of {', '.join(map(str, SUPPORTED_RATES))}")
    return rate


def _mask_number(number: str) -> str:
    """Phone numbers are personal data: logs keep the last four digits."""
    return number if len(number) <= 4 else "*" * (len(number) - 4) + number[-4:]


@dataclass(frozen=True, slots=True)
class Route:
    kind: Literal["voice", "monitor", "health"]
    sample_rate: int = 16000


class BotServer:
    """The bot: `await start()`, then `.url` / `.monitor_url`; `await close()` to stop."""

    def __init__(
        self,
        settings: BotSettings,
        *,
        providers: ProviderSet | None = None,
        bus: EventBus | None = None,
        clock: Clock | None = None,
        options: SessionOptions | None = None,
        allow_insecure: bool = False,
        max_frame_bytes: int = 64 * 1024,
        metadata_timeout_s: float = 10.0,
        prerender: bool = True,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings
        register_secrets(settings)  # tokens in a refused path or a library's debug line stay hidden
        self._providers = providers
        self.bus = bus or EventBus()
        self.clock = clock or MonotonicClock()
        self.options = options or SessionOptions()
        self.allow_insecure = allow_insecure
        self.max_frame_bytes = max_frame_bytes
        self.metadata_timeout_s = metadata_timeout_s
        self.prerender = prerender
        self.sessions: dict[str, CallSession] = {}
        self.stats = ServerStats()
        self.prompts: PromptCache | None = None
        self._owns_providers = providers is None
        self._server: Server | None = None
        self._ssl: ssl.SSLContext | None = None
        self._monitors = 0
        self.slots = CallSlots(settings.bot_max_calls)
        self.stalls = LoopStalls(self.clock)  # the bot's own lag, so the audio budget does not blame the caller
        self._refusal_log = ThrottledLog(log.warning)
        self.recordings: RecordingStore | None = None
        self._give_back: asyncio.TimerHandle | None = None
        self.reuse_port = reuse_port  # several worker processes on one port (SO_REUSEPORT)
        self.draining = False
        self._stopping: Ending | None = None  # set by close(): the sockets it closes were not the callers hanging up
        self._recorders: OrderedDict[str, CallRecorder] = OrderedDict()

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def providers(self) -> ProviderSet:
        if self._providers is None:
            from voice.providers.factory import build_providers  # noqa: PLC0415 - vendor SDKs load on first use

            self._providers = build_providers(self.settings)
        return self._providers

    async def start(self) -> None:
        s = self.settings
        self._ssl = self._tls_context()
        if self._ssl is None and not (is_loopback(s.bot_host) or self.allow_insecure):
            raise ConfigError(
                f"refusing plain ws:// on {s.bot_host}: Knowlarity connects over WSS only. Give TLS_CERT/TLS_KEY "
                "(--cert/--key), bind to 127.0.0.1, or pass --allow-insecure (e.g. behind a TLS proxy)"
            )
        providers = self.providers
        self._adopt_script(providers)
        s = self.settings
        warm = getattr(providers, "warm", None)
        if callable(warm):  # load decoders / the speech library before the first call, not during it
            try:
                await warm()
            except Exception as exc:  # noqa: BLE001 - a provider that cannot warm up may still work per call
                _server_log.warning("warming the providers failed: %s", exc)
        self.prompts = PromptCache(providers.tts, providers.fallback_tts)
        if self.prerender:
            failed = await self.prompts.prerender(self.options.prompt_lines(s), s.bot_sample_rate)
            for text in failed:
                _server_log.warning("could not pre-render %r; it will be synthesised per call", text[:40])
        self.bus.set_command_handler(self.handle_command)
        if s.record_dir is not None:
            self.recordings = RecordingStore(
                Path(s.record_dir), max_bytes=int(s.record_max_mb * 2**20), max_age_s=s.record_max_age_days * 86400,
            )
            await self.recordings.start()
        try:
            self._server = await serve(
                self._handler,
                s.bot_host,
                s.bot_port,
                ssl=self._ssl,
                process_request=self._process_request,
                max_size=self.max_frame_bytes,
                compression=None,  # PCM does not compress; deflate would cost CPU per call
                ping_interval=20,
                ping_timeout=20,
                reuse_port=self.reuse_port or None,
            )
        except OSError as exc:
            raise ConfigError(f"cannot listen on {s.bot_host}:{s.bot_port}: {exc.strerror or exc}") from None
        self.stalls.start()
        _server_log.info("listening on %s (monitor %s)", self.url, self.monitor_url)

    async def close(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        self.stalls.stop()
        if self._give_back is not None:
            self._give_back.cancel()
        self._stopping = Ending("shutdown", "drain timed out" if self.draining else "")
        server.close()
        await server.wait_closed()
        for session in list(self.sessions.values()):
            await session.close(self._stopping)
        if self.recordings is not None:
            await self.recordings.aclose()
        aclose = getattr(self._providers, "aclose", None)
        if self._owns_providers and callable(aclose):
            await aclose()

    async def drain(self, timeout_s: float) -> int:
        """Take no new calls (/healthz answers 503, so a load balancer moves on), let the live
        ones finish for up to `timeout_s`; returns how many were still live at the end."""
        self.draining = True
        log.info("[SERVER] draining: no new calls; %d live", len(self.sessions))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.sessions and loop.time() < deadline:  # noqa: ASYNC110 - sessions end in many places: poll
            await asyncio.sleep(0.1)
        return len(self.sessions)

    def recording_dir(self, call_id: str) -> str | None:
        """Where a call (live or recent) was recorded, for the fleet's recordings index;
        None when it was not recorded (no --record-dir, or it never sent audio)."""
        rec = self._recorders.get(call_id)
        return str(rec.folder) if rec is not None and rec.folder is not None else None

    def _adopt_script(self, providers: Any) -> None:
        """With the scripted responder, the script's greeting, goodbye and transfer number
        are the bot's own, unless GREETING / TRANSFER_NUMBER were set (settings win)."""
        script = getattr(providers, "script", None)
        if script is None:
            return
        if not self.settings.transfer_number and getattr(script, "transfer_number", None):
            self.settings = self.settings.model_copy(update={"transfer_number": script.transfer_number})
        if "greeting" not in self.settings.model_fields_set and getattr(script, "greeting", None):
            self.settings = self.settings.model_copy(update={"greeting": script.greeting})
        goodbye = getattr(script, "goodbye", None)
        if goodbye and self.options.goodbye_line == SessionOptions().goodbye_line:
            self.options = replace(self.options, goodbye_line=goodbye)

    async def __aenter__(self) -> BotServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    def _base(self, scheme_secure: str, scheme_plain: str) -> str:
        host = self.settings.bot_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        scheme = scheme_secure if self._ssl is not None else scheme_plain
        return f"{scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The Stream Node URL (without the token: append `?token=...` if one is set)."""
        return self._base("wss", "ws") + self.settings.bot_path

    @property
    def monitor_url(self) -> str:
        return self._base("wss", "ws") + MONITOR_PATH

    def _tls_context(self) -> ssl.SSLContext | None:
        cert, key = self.settings.tls_cert, self.settings.tls_key
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            raise ConfigError("TLS needs both a certificate (TLS_CERT/--cert) and a key (TLS_KEY/--key)")
        for label, path in (("certificate", cert), ("key", key)):
            if not Path(path).is_file():
                raise ConfigError(f"TLS {label} file not found: {path}")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"cannot load TLS certificate/key: {exc}") from None
        return ctx

    # ---- routing and authentication (before any session exists) ------------------------------

    def _route(self, raw_path: str, headers: Headers) -> Route | tuple[http.HTTPStatus, str]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        s = self.settings
        bot_path = s.bot_path.rstrip("/") or "/"
        given = next(iter(query.get("token", [])), None)
        auth = headers.get("Authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if path == HEALTH_PATH:
            return Route("health")
        refused = self._refused_origin(headers)
        if refused is not None:
            return refused
        if path == MONITOR_PATH or path.startswith(MONITOR_PATH + "/"):
            if path != MONITOR_PATH:
                given = path[len(MONITOR_PATH) + 1 :]
            secret = s.monitor_token or s.bot_token
            if secret is None:
                if not s.monitor_open:
                    return http.HTTPStatus.FORBIDDEN, (
                        "monitor needs a token: set MONITOR_TOKEN (or MONITOR_OPEN=1 for a loopback bot)\n")
                if not is_loopback(s.bot_host):
                    return http.HTTPStatus.FORBIDDEN, "monitor disabled: set MONITOR_TOKEN to watch a public bot\n"
            elif not _same(given, secret.get_secret_value()):
                return http.HTTPStatus.FORBIDDEN, "forbidden\n"
            return Route("monitor")
        if path == bot_path or path.startswith(bot_path.rstrip("/") + "/"):
            if path != bot_path:
                if s.bot_token is None:
                    return http.HTTPStatus.NOT_FOUND, "not found\n"
                given = path[len(bot_path.rstrip("/")) + 1 :]
            if s.bot_token is not None and not _same(given, s.bot_token.get_secret_value()):
                return http.HTTPStatus.FORBIDDEN, "forbidden\n"
            if self.draining:
                return http.HTTPStatus.SERVICE_UNAVAILABLE, "draining: this worker takes no new calls\n"
            rate = s.bot_sample_rate
            raw_rate = next(iter(query.get("sample_rate") or query.get("sampling_rate") or []), None)
            if raw_rate is not None:
                try:
                    rate = parse_rate(raw_rate)
                except ValueError as exc:
                    return http.HTTPStatus.BAD_REQUEST, f"{exc}\n"
            return Route("voice", rate)
        return http.HTTPStatus.NOT_FOUND, "not found\n"

    def _refused_origin(self, headers: Headers) -> tuple[http.HTTPStatus, str] | None:
        """Browsers send Origin on every WebSocket; the Stream Node and our clients do not.
        A page on the operator's machine must not reach a call or the supervisor feed."""
        origins = headers.get_all("Origin")
        if not origins:
            return None
        if len(origins) == 1 and normalise_origin(origins[0]) in self.settings.allowed_origins:
            return None
        return http.HTTPStatus.FORBIDDEN, "origin not allowed (BOT_ALLOWED_ORIGINS)\n"

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        route = self._route(request.path, request.headers)
        if isinstance(route, Route):
            if route.kind == "health":  # a load balancer's check: 503 while draining, never logged
                if self.draining:
                    return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "draining\n")
                return connection.respond(http.HTTPStatus.OK, "ok\n")
            return None
        status, text = route
        path = urlsplit(request.path).path
        bot_path = self.settings.bot_path.rstrip("/") or "/"
        component = "KNOWLARITY" if path.startswith(bot_path) else "MONITOR" if path.startswith(MONITOR_PATH) else "SERVER"
        CallLog("-", component, log).warning(
            "refused %s from %s: %d %s (%s); this bot serves %s (and %s)", self._shown_path(request.path),
            _peer(connection), status.value, status.phrase, text.strip(), bot_path, MONITOR_PATH)
        return connection.respond(status, text)

    def _shown_path(self, raw_path: str) -> str:
        """A refused request's path as safe to log: only our route names are shown, since a
        token may sit in any segment (`/<token>`, `/voice/<token>`, `/voice;token=...`)."""
        public = {seg for seg in self.settings.bot_path.split("/") if seg} | {MONITOR_PATH[1:], HEALTH_PATH[1:]}
        return redact_url(raw_path, public_segments=public)

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        route = self._route(ws.request.path, ws.request.headers)
        if not isinstance(route, Route):  # pragma: no cover - process_request refused it already
            return
        if route.kind == "monitor":
            await self._monitor(ws)
        elif route.kind == "voice":
            await self._voice(ws, route.sample_rate)

    # ---- a call ----------------------------------------------------------------------------

    async def _voice(self, ws: ServerConnection, rate: int) -> None:
        if not self.slots.acquire():
            self._refusal_log(self.clock.now(), "[SERVER] refused a call from %s: %d calls already (BOT_MAX_CALLS); "
                              "closed with 1013", _peer(ws), self.slots.limit)
            await ws.close(1013, "too many calls; try again later")
            return
        try:
            await self._call(ws, rate)
        finally:
            self.slots.release()
            if self.slots.active == 0:
                self._schedule_give_back()

    def _schedule_give_back(self) -> None:
        """A second after the last call of a burst has gone (and none came), collect the
        burst's reference cycles and hand the freed pages back to the OS (voice.memory)."""
        loop = asyncio.get_running_loop()
        if self._give_back is not None:
            self._give_back.cancel()

        def run() -> None:
            self._give_back = None
            if self.slots.active == 0 and self._server is not None:
                gc.collect()
                loop.run_in_executor(None, give_back_memory, True)

        self._give_back = loop.call_later(GIVE_BACK_AFTER_S, run)

    async def _call(self, ws: ServerConnection, rate: int) -> None:
        peer = _peer(ws)
        transport = ws.transport
        if hasattr(type(transport), "max_size"):  # asyncio's selector transport: bytes per recv()
            transport.max_size = VOICE_READ_BYTES  # type: ignore[attr-defined]
        pre = CallLog("-", "KNOWLARITY")
        try:
            raw = await asyncio.wait_for(ws.recv(), self.metadata_timeout_s)
        except TimeoutError:
            pre.warning("no metadata within %.0f s from %s; closing", self.metadata_timeout_s, peer)
            await ws.close(1008, "metadata frame expected")
            return
        except ConnectionClosed as exc:
            pre.warning("connection from %s closed before metadata (%s)", peer, _closed_why(exc, self.max_frame_bytes))
            return
        if isinstance(raw, bytes):
            pre.warning("binary frame before metadata from %s; closing the call", peer)
            await ws.close(1008, "first frame must be the metadata text frame")
            return
        try:
            meta = protocol.parse_metadata(raw)
        except protocol.ProtocolError as exc:
            pre.warning("Failed to parse metadata from %s: %s; closing the call", peer, exc)
            await ws.close(1007, f"bad metadata: {exc}"[:120])
            return
        metadata_at = self.clock.now()
        call_id = self._unique_id(meta.callid)
        klog = CallLog(call_id, "KNOWLARITY")

        tally = StreamTally(rate)

        async def send(text: str) -> None:
            tally.sent(text)
            try:
                await ws.send(text)
            except ConnectionClosed as exc:
                raise CallGone(str(exc)) from None

        async def close_connection(reason: str) -> None:
            await ws.close(1000, reason[:120])

        recorder = self._recorder(call_id, rate, metadata_at, klog)
        session = CallSession(
            metadata=meta, call_id=call_id, sample_rate=rate, send=send, providers=self.providers,
            settings=self.settings, bus=self.bus, prompts=self._prompts(), clock=self.clock, options=self.options,
            recorder=recorder, close_connection=close_connection, stats=self.stats,
        )
        self.sessions[call_id] = session
        self.stats.calls += 1
        ending = Ending("caller_hangup")
        text_frames = 0
        words: asyncio.Task[None] | None = None
        # The ask comes right after the metadata, but the greeting is published at once: listen
        # from the start, and stop at the first audio frame if the caller did not ask.
        early_words: Any = self.bus.subscribe(maxsize=200, call_id=call_id, kinds=WORD_KINDS)
        debug = log.isEnabledFor(logging.DEBUG) or logging.getLogger("voice").isEnabledFor(logging.DEBUG)
        s = self.settings

        def over_budget(kind: str) -> None:
            if kind == "speed":
                klog.warning("audio arriving faster than %.1fx real time: dropping what is over (BOT_MAX_AUDIO_SPEED; "
                             "once per burst)", s.bot_max_audio_speed)
            else:
                klog.warning("more than %d frames a second: reading this call more slowly (BOT_MAX_FRAMES_PER_S; "
                             "once per burst)", s.bot_max_frames_per_s)

        clock = self.clock
        budget = AudioBudget(rate, metadata_at, speed=s.bot_max_audio_speed, frames_per_s=s.bot_max_frames_per_s,
                             on_burst=over_budget, stalls=self.stalls.total)
        coalescer = Coalescer(rate)
        idle = _IdleWatch(metadata_at)
        watchdog = asyncio.create_task(self._idle_watch(ws, session, idle, klog), name=f"idle-{call_id}")
        try:
            await session.start(metadata_at)
            klog.info("connected from %s | virtual_number=%s customer_number=%s call_type=%s sample_rate=%d",
                      peer, meta.virtual_number, _mask_number(meta.customer_number), meta.call_type, rate)
            async for msg in _Frames(ws, budget):
                if isinstance(msg, str):
                    if msg == protocol.KCONSOLE_TRANSCRIPT_REQUEST and early_words is not None:
                        words = asyncio.create_task(self._send_words(early_words, send), name=f"words-{call_id}")
                        early_words = None
                        continue
                    text_frames += 1
                    if text_frames == 1:
                        klog.warning("ignoring a text frame after the metadata (only audio is expected)")
                    continue
                if len(msg) % 2:
                    ending = Ending("error", f"odd-length audio frame ({len(msg)} bytes)")
                    klog.warning("%s: not 16-bit PCM; closing the call", ending.detail)
                    await ws.close(1007, "audio frames must hold whole 16-bit samples")
                    break
                if not msg:
                    continue
                if early_words is not None:
                    early_words.close()
                    early_words = None
                tally.received(msg)
                now = clock.now()
                idle.last_audio = now
                wait = budget.pace(now)
                if wait > 0:  # over the frame budget: stop reading; TCP pushes back on the sender
                    await clock.sleep(wait)
                    now = clock.now()
                if not budget.admit(len(msg), now):
                    continue
                pcm = coalescer.push(msg)
                if pcm is None:
                    continue
                if session.audio_frames == 0:
                    klog.info("Audio packet received | size=%d bytes (first; the rest at debug level)", len(pcm))
                elif debug:
                    klog.debug("Audio packet received | size=%d bytes", len(pcm))
                await session.feed_audio(pcm)
            else:
                ending = idle.ending or _closed_reason(ws)
        except ConnectionClosed as exc:
            ending = idle.ending or _closed_why(exc, self.max_frame_bytes)  # session.close logs it
        except CallGone:
            ending = idle.ending or _closed_reason(ws)
        except Exception as exc:  # noqa: BLE001 - a bug must end this call only
            ending = Ending("error", f"internal error: {type(exc).__name__}")
            klog.error("internal error; ending this call: %r", exc, exc_info=exc)
            await ws.close(1011, "internal error")
        finally:
            watchdog.cancel()
            if words is not None:
                words.cancel()
            if early_words is not None:
                early_words.close()
            try:
                summary = describe_totals(budget.totals, rate)
                if summary:
                    klog.warning("%s", summary)
                if self._stopping is not None and ending.outcome == "caller_hangup":  # our own close(), not the caller
                    ending = self._stopping
                await session.close(ending)
            finally:
                if self.sessions.get(call_id) is session:
                    del self.sessions[call_id]
                klog.info("%s", tally.summary((session.ending or ending).text))

    async def _send_words(self, sub: Any, send: Any) -> None:
        """`kconsole call` asked for this call's words: its bot sentences and the caller's
        final transcripts go back on this call's own socket (see voice.protocol)."""
        try:
            while True:
                event = await sub.get()
                if isinstance(event, BotSentence) or (isinstance(event, TranscriptEvent) and event.final):
                    await send(protocol.kconsole_event(event))
        except CallGone:
            return
        finally:
            sub.close()

    async def _idle_watch(self, ws: ServerConnection, session: CallSession, idle: _IdleWatch, klog: CallLog) -> None:
        """End a call whose caller has sent no audio for BOT_IDLE_TIMEOUT_S (pings are not audio).

        The session is closed at once (its providers and buffers freed); the socket's
        closing handshake may then take up to websockets' close timeout if the peer does
        not read, but no call is held for it."""
        limit = self.settings.bot_idle_timeout_s
        while True:
            left = idle.last_audio + limit - self.clock.now()
            if left <= 0:
                break
            await self.clock.sleep(left)
        idle.ending = Ending("limit", f"no audio for {limit:g} s")
        klog.warning("no audio for %g s (BOT_IDLE_TIMEOUT_S); ending the call", limit)
        try:  # tell the Stream Node to hang up the phone leg too, then close the socket
            await asyncio.wait_for(ws.send(protocol.DISCONNECT), 2.0)
        except (ConnectionClosed, TimeoutError):
            pass
        await session.close(idle.ending)
        if self.sessions.get(session.call_id) is session:
            del self.sessions[session.call_id]
        await ws.close(1000, "no audio")

    def _unique_id(self, callid: str) -> str:
        if callid not in self.sessions:
            return callid
        n = 2
        while f"{callid}#{n}" in self.sessions:
            n += 1
        CallLog(f"{callid}#{n}", "KNOWLARITY", log).warning("call id %r already active; this connection is %r",
                                                           callid, f"{callid}#{n}")
        return f"{callid}#{n}"

    def _prompts(self) -> PromptCache:
        if self.prompts is None:  # pragma: no cover - start() sets it
            self.prompts = PromptCache(self.providers.tts, self.providers.fallback_tts)
        return self.prompts

    def _recorder(self, call_id: str, rate: int, started: float, klog: CallLog) -> CallRecorder | None:
        """The call's recorder; its folder appears with the caller's first audio."""
        if self.recordings is None:
            return None
        rec = self.recordings.recorder(call_id, rate, started, klog)
        if rec is not None:  # for the fleet's recordings index (see recording_dir)
            self._recorders[call_id] = rec
            while len(self._recorders) > 2000:
                self._recorders.popitem(last=False)
        return rec

    # ---- /monitor -------------------------------------------------------------------------

    async def _monitor(self, ws: ServerConnection) -> None:
        mlog = CallLog("-", "MONITOR")
        sub = self.bus.subscribe(maxsize=5000)
        self._monitors += 1
        mlog.info("monitor connected from %s", _peer(ws))
        for session in list(self.sessions.values()):  # catch up on calls already running
            sub.offer(CallStarted(
                call_id=session.call_id, caller=session.metadata.customer_number,
                virtual_number=session.metadata.virtual_number, call_type=session.metadata.call_type,
                sample_rate=session.sample_rate,
            ))
            sub.offer(StateChanged(call_id=session.call_id, state=session.state))
        pump = asyncio.create_task(self._monitor_pump(ws, sub), name="monitor-pump")
        try:
            async for msg in ws:
                result = await self._monitor_command(msg, sub)
                await ws.send(json.dumps(result))
        except ConnectionClosed:
            pass
        finally:
            sub.close()
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            self._monitors -= 1
            mlog.info("monitor disconnected")

    async def _monitor_pump(self, ws: ServerConnection, sub: Any) -> None:
        try:
            while True:
                event = await sub.get()
                await ws.send(to_json(event))
        except ConnectionClosed:
            return

    async def _monitor_command(self, raw: str | bytes, sub: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"kind": "command_result", "ok": False, "command": None, "call_id": None, "error": None}
        if isinstance(raw, bytes):
            result["error"] = "commands are JSON text frames"
            return result
        try:
            cmd = parse_command(raw)
        except ValidationError as exc:
            errors = exc.errors()
            where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
            where = where or "command"
            result["error"] = f"bad command ({where}: {errors[0]['msg'] if errors else 'invalid'})"
            return result
        result["command"] = cmd.command
        result["call_id"] = cmd.call_id
        if isinstance(cmd, ListenCommand):
            if cmd.call_id != "*" and cmd.call_id not in self.sessions:
                result["error"] = f"no active call {cmd.call_id!r}"
                return result
            (sub.audio_calls.add if cmd.on else sub.audio_calls.discard)(cmd.call_id)
            result["ok"] = True
            return result
        error = await self.handle_command(cmd)
        result["ok"] = error is None
        result["error"] = error
        return result

    async def handle_command(self, cmd: MonitorCommand) -> str | None:
        """Route a supervisor command to its call; returns an error message or None."""
        session = self.sessions.get(cmd.call_id)
        if session is None:
            return f"no active call {cmd.call_id!r}"
        CallLog(cmd.call_id, "MONITOR").info("supervisor command: %s", cmd.command)
        if isinstance(cmd, TransferCommand):
            return await session.transfer(cmd.destination)
        if isinstance(cmd, HangupCommand):
            return await session.hangup()
        if isinstance(cmd, SayCommand):
            return await session.say(cmd.text)
        if isinstance(cmd, ListenCommand):
            return None  # per subscriber: the /monitor connection applies it to its own feed
        return f"unknown command {getattr(cmd, 'command', '?')!r}"  # pragma: no cover


class _Frames:
    """The connection's messages, telling the budget when this call starts waiting for the
    next one (a stall of the bot's loop then is the bot's, not the caller's burst)."""

    def __init__(self, ws: ServerConnection, budget: AudioBudget) -> None:
        self._messages = ws.__aiter__()
        self._budget = budget

    def __aiter__(self) -> _Frames:
        return self

    async def __anext__(self) -> str | bytes:
        self._budget.waiting()
        return await self._messages.__anext__()


@dataclass(slots=True)
class _IdleWatch:
    last_audio: float
    ending: Ending | None = None


def _same(given: str | None, secret: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


def _peer(ws: ServerConnection) -> str:
    addr = ws.remote_address
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


def _closed_reason(ws: ServerConnection) -> Ending:
    """The socket closed cleanly: a normal close from the Stream Node is the caller hanging up."""
    code = ws.close_code
    if code in (1000, 1001, None):
        return Ending("caller_hangup")
    return Ending("error", f"connection closed ({code} {ws.close_reason or ''})".strip())


def _closed_why(exc: ConnectionClosed, max_size: int) -> Ending:
    sent = exc.sent
    if exc.rcvd is None and sent is not None and sent.code == 1009:
        return Ending("limit", f"frame larger than {max_size} bytes")
    if exc.rcvd is None and sent is None:
        return Ending("error", "connection lost (no close frame)")
    if exc.rcvd is not None and exc.rcvd.code in (1000, 1001):
        return Ending("caller_hangup")
    code = exc.rcvd.code if exc.rcvd is not None else (sent.code if sent is not None else 0)
    return Ending("error", f"connection closed ({code})")
