"""SandboxServer: Knowlarity's cloud on loopback (REST, live stream, test hooks).

One aiohttp server serves the REST API (`sandbox.api`), the live notification stream at
the documented path shape /update-stream/{SR_API_KEY}/konnect (SSE: `data: <json>` and a
blank line per event, a comment line as keepalive) and a few test hooks under
/_sandbox/ that only loopback clients may call. It runs inside whatever asyncio loop
starts it (the demo embeds it in the Textual app's loop) or standalone (`kconsole
sandbox`).

    async with SandboxServer(speed=50) as sb:
        print(sb.base_url, sb.stream_url)

Keys: the server accepts exactly one SR API key (`Authorization`, and the stream path)
and one application access key (`x-api-key`). They are never logged; `repr()` and the
stream URL's redacted form hide them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import logging
import math
import random
import socket
import struct
import wave
from typing import Any

from aiohttp import web

from kcommon.redact import redact_url
from sandbox import formats as fmt
from sandbox.account import MSG_BAD_SR_KEY, Account, Rejected
from sandbox.api import RestApi, json_response, read_body
from sandbox.calls import make_plan, random_plan, ring_agent
from sandbox.hub import StreamHub
from sandbox.traffic import BotHook, CallEngine, TrafficGenerator

log = logging.getLogger(__name__)

DEFAULT_SR_API_KEY = "sandbox-sr-key"
DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_USERNAME = "sandbox"  # the account's user name, for the documented USERNAME:KEY headers
LOOPBACK = ("127.", "::1", "::ffff:127.")


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown paths and methods, oversize bodies, crashes: a JSON body, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        return json_response(
            {"message": f"Method {request.method} not allowed here; use {', '.join(sorted(exc.allowed_methods))}."}, 405
        )
    except web.HTTPNotFound:
        return json_response({"message": f"Not Found: no endpoint at {request.path}."}, 404)
    except web.HTTPRequestEntityTooLarge:
        return json_response({"message": "Request body too large."}, 413)
    except web.HTTPException:
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("sandbox: unexpected error serving %s %s", request.method, request.path)
        return json_response({"message": "Internal server error."}, 500)


def _recording_wav(call_uuid: str) -> bytes:
    """A short, deterministic two-voice murmur standing in for a call recording."""
    rate, seconds = 8000, 3
    seed = int.from_bytes(hashlib.blake2b(call_uuid.encode(), digest_size=4).digest(), "big")
    f1, f2 = 180 + seed % 60, 240 + (seed >> 8) % 80
    frames = bytearray()
    for i in range(rate * seconds):
        t = i / rate
        voice = f1 if int(t * 1.5) % 2 == 0 else f2
        envelope = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
        frames += struct.pack("<h", int(3000 * envelope * math.sin(2 * math.pi * voice * t)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return buf.getvalue()


class SandboxServer:
    """The local stand-in for Knowlarity's cloud. See the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sr_api_key: str = DEFAULT_SR_API_KEY,
        api_key: str = DEFAULT_API_KEY,
        seed: int = 7,
        traffic_rate: float = 0.0,
        speed: float = 1.0,
        keepalive: float = 15.0,
        history: int = 3000,
        username: str = DEFAULT_USERNAME,
        page_size: int = 1000,
    ) -> None:
        if not username or not username.strip() or ":" in username:
            raise ValueError("username must be a non-empty word without ':'")
        if not sr_api_key or not sr_api_key.strip() or "/" in sr_api_key:
            raise ValueError("sr_api_key must be a non-empty string without '/'")
        if not api_key or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        if not speed > 0:
            raise ValueError("speed must be positive")
        if not traffic_rate >= 0:
            raise ValueError("traffic_rate must not be negative")
        if not 0 <= port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if not keepalive > 0:
            raise ValueError("keepalive must be positive")
        self.host = host
        self._requested_port = port
        self._sr_api_key = sr_api_key.strip()
        self._api_key = api_key.strip()
        self.seed = seed
        self.traffic_rate = traffic_rate
        self.speed = speed
        self.keepalive = keepalive
        self.account = Account.generate(seed, history=history)
        self.hub = StreamHub()
        self.engine = CallEngine(self.account, self.hub, speed=speed, rng=random.Random(seed + 3))
        self._rng = random.Random(seed + 1)
        self.traffic = TrafficGenerator(self.engine, rate=traffic_rate, rng=random.Random(seed + 2))
        # a WhatsApp permission request is granted ten (sandbox) seconds after it is sent
        self.api = RestApi(
            self.account, self.engine, sr_api_key=self._sr_api_key, api_key=self._api_key, rng=self._rng,
            permission_delay=10.0 / speed, username=username.strip(), page_size=page_size,
        )
        self.username = username.strip()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stream_tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        where = self.base_url if self._port else "not started"
        return f"<SandboxServer {where} speed={self.speed} traffic={self.traffic_rate}/min>"

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        app = web.Application(middlewares=[_json_errors], client_max_size=1024 * 1024)
        self.api.add_routes(app)
        app.router.add_get("/update-stream/{key}/konnect", self._stream)
        app.router.add_get("/update-stream/{key}/konnect/", self._stream)
        app.router.add_post("/_sandbox/drop-stream", self._hook_drop)
        app.router.add_post("/_sandbox/inbound-call", self._hook_inbound)
        app.router.add_get("/_sandbox/info", self._hook_info)
        app.router.add_get("/kstorage/read", self._recording)
        app.router.add_get("/files/phonebook_{id}.csv", self._phonebook_file)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._requested_port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        # handler_cancellation: a stream client that hangs up is unsubscribed at once, not at
        # the next keepalive write
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
                               handler_cancellation=True)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner
        self._port = sock.getsockname()[1]
        self.account.public_base_url = self.base_url
        self.traffic.start()
        log.info("sandbox listening on %s", self.base_url)

    async def close(self) -> None:
        """Stop traffic and calls, end every stream, stop serving. Safe to call twice."""
        await self.traffic.stop()
        await self.engine.close()
        self.hub.finish_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- addresses ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("sandbox not started")
        return self._port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def stream_url(self) -> str:
        """The full stream URL, SR key included (it is part of the documented path)."""
        return f"{self.base_url}/update-stream/{self._sr_api_key}/konnect"

    @property
    def stream_url_redacted(self) -> str:
        return redact_url(self.stream_url, public_segments=("update-stream", "konnect"))

    # ---- hooks for tests, the demo and the voice bot -----------------------------------------

    def drop_stream_subscribers(self) -> int:
        """Abort every open stream connection mid-stream; returns how many were open."""
        return self.hub.drop_all()

    def set_inbound_bot_hook(self, callback: BotHook | None) -> None:
        """Route inbound calls of `account.bot_number` to `callback(BotCall)` (None: unset).

        If the callback returns an awaitable, the call lasts until it completes (give up
        after 15 minutes); its exceptions end the call as Failed and are logged. If the
        awaited result has `outcome == "transferred"` and a `transfer_to` number (an
        agent's, or the main number: an Available agent), the same call goes on to ring
        that agent.
        """
        self.engine.bot_hook = callback

    def place_inbound_call(
        self,
        *,
        knowlarity_number: str | None = None,
        customer_number: str | None = None,
        agent_number: str | None = None,
    ) -> str:
        """Have a customer call one of the account's numbers now; returns the call uuid.

        The bot number goes to the bot hook, the missed-call number rings once, any
        other number rings `agent_number` (an agent of the account) or else an Available
        agent; an agent who is not Available misses it, and with nobody free the caller
        abandons. Must be called from the server's event loop.
        """
        now = self.engine.clock()
        number = fmt.normalize_number(knowlarity_number) if knowlarity_number else self.account.main_number
        if number is None or self.account.bought(number, now) is None:
            raise ValueError("knowlarity_number must be an active number of the account")
        customer = fmt.normalize_number(customer_number) if customer_number else None
        if customer_number and customer is None:
            raise ValueError("customer_number is not a phone number")
        agent = None
        if agent_number:
            agent = self.account.agent_by_number(fmt.normalize_number(agent_number) or "")
            if agent is None:
                raise ValueError("agent_number is not an agent of the account")
        if number == self.account.bot_number:
            kind = "bot"
        elif number == self.account.missed_call_number:
            kind = "missed_call"
        else:
            kind = "ibd"
        if agent is not None and kind != "ibd":
            raise ValueError("agent_number applies only to calls that ring an agent")
        plan = random_plan(self._rng, self.account, kind=kind, live=True, now=now, customer=customer)
        if kind == "ibd":
            agent, outcome = ring_agent(self._rng, self.account, agent or plan.agent)
            plan = make_plan(self._rng, kind="ibd", outcome=outcome, knowlarity_number=number,
                             customer_number=plan.customer_number, agent=agent, call_uuid=plan.uuid)
        elif kind == "bot":
            plan.outcome = "connected"
        self.engine.start(plan)
        return plan.uuid

    # ---- the live stream -----------------------------------------------------------------------

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        if not hmac.compare_digest(request.match_info["key"].encode(), self._sr_api_key.encode()):
            return json_response({"message": MSG_BAD_SR_KEY}, 401)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        sub = self.hub.subscribe(request.transport, request.remote or "")
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    chunk = await asyncio.wait_for(sub.queue.get(), self.keepalive)
                except TimeoutError:
                    chunk = b": keepalive\n\n"
                if chunk is None:
                    break
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client went away, or the drop hook cut it off ("closing transport")
        finally:
            self.hub.unsubscribe(sub)
        return response

    # ---- test hooks (loopback only, no API keys) -----------------------------------------------

    @staticmethod
    def _loopback_only(request: web.Request) -> None:
        if not (request.remote or "").startswith(LOOPBACK):
            raise Rejected(403, {"message": "Sandbox hooks answer loopback clients only."})

    async def _hook_drop(self, request: web.Request) -> web.Response:
        try:
            self._loopback_only(request)
        except Rejected as exc:
            return json_response(exc.body, exc.status)
        return json_response({"dropped": self.drop_stream_subscribers()})

    async def _hook_inbound(self, request: web.Request) -> web.Response:
        try:
            self._loopback_only(request)
            body = await read_body(request)
        except Rejected as exc:
            return json_response(exc.body, exc.status)
        try:
            call_uuid = self.place_inbound_call(
                knowlarity_number=body.get("knowlarity_number"), customer_number=body.get("customer_number"),
                agent_number=body.get("agent_number"),
            )
        except ValueError as exc:
            return json_response({"message": str(exc)}, 400)
        return json_response({"uuid": call_uuid})

    async def _hook_info(self, request: web.Request) -> web.Response:
        try:
            self._loopback_only(request)
        except Rejected as exc:
            return json_response(exc.body, exc.status)
        a = self.account
        return json_response({
            "main_number": a.main_number, "missed_call_number": a.missed_call_number, "bot_number": a.bot_number,
            "cli_number": a.cli_number, "default_agent": a.default_agent.phone_number,
            "agents": [{"id": x.id, "name": x.name, "phone_number": x.phone_number, "status": x.status} for x in a.agents],
            "dnc_numbers": sorted(a.dnc_numbers), "no_answer_numbers": sorted(a.no_answer_numbers),
            "speed": self.speed, "traffic_rate": self.traffic_rate, "stream_subscribers": self.hub.subscriber_count,
            "active_calls": len(self.engine.active), "call_log_records": len(a.calllog),
        })

    async def _recording(self, request: web.Request) -> web.Response:
        ref = request.query.get("uuid", "")
        call_uuid = ref.split("_", 1)[0]
        record = self.account.calllog.get(call_uuid)
        if record is None or not record.has_recording:
            return json_response({"message": "Recording not found."}, 404)
        return web.Response(body=_recording_wav(call_uuid), content_type="audio/wav")

    async def _phonebook_file(self, request: web.Request) -> web.Response:
        book = next((p for p in self.account.phonebooks if str(p.id) == request.match_info["id"]), None)
        if book is None:
            return json_response({"message": "Phonebook file not found."}, 404)
        return web.Response(text="number\n" + "".join(f"{n}\n" for n in book.numbers), content_type="text/csv")
