"""`kconsole bot`: run the voice-stream bot headless until Ctrl-C.

Settings come from the environment and `.env` under the guide's names (see
voice.config); every flag here overrides its setting for this run. With no provider key
set, the offline providers are used, so a fresh machine needs no configuration at all.
The bot prints the URLs it serves and which providers it uses — never a key or a token
(a token given with --token is visible in the process list; prefer BOT_TOKEN in `.env`).
On exit it prints the latency figures of the calls it served.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kcommon.errors import ConfigError
from voice.config import load_bot_settings
from voice.fleet.streams import check_bus_url, describe_bus_url
from voice.providers.base import ProviderError
from voice.server import BotServer, parse_rate

if TYPE_CHECKING:
    from voice.fleet.looplag import LoopLagMonitor
    from voice.fleet.metrics import WorkerMetrics
    from voice.fleet.publisher import FleetPublisher


def _rate(value: str) -> int:
    """A bad --sample-rate is one line naming the flag (argparse would add its usage block)."""
    try:
        return parse_rate(value)
    except ValueError as exc:
        raise ConfigError(f"--sample-rate: {exc}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface to listen on (BOT_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (BOT_PORT; default 8765, 0 = any free port)")
    parser.add_argument("--path", help="WebSocket path of the Stream Node endpoint (BOT_PATH; default /voice)")
    parser.add_argument("--sample-rate", metavar="RATE",
                        help="default stream rate: 8k, 16k, 24k, 32k or 48k (BOT_SAMPLE_RATE); "
                             "a call may also ask with ?sample_rate=8000")
    parser.add_argument("--token", help="secret the Stream Node URL must carry (BOT_TOKEN)")
    parser.add_argument("--monitor-token", help="secret for the /monitor feed (MONITOR_TOKEN; default: --token)")
    parser.add_argument("--monitor-open", action="store_true", default=None,
                        help="serve /monitor with no token, on a loopback interface only (MONITOR_OPEN)")
    parser.add_argument("--allowed-origins", metavar="ORIGINS",
                        help="comma-separated web origins allowed to open /voice and /monitor from a browser "
                             "(BOT_ALLOWED_ORIGINS; default none)")
    parser.add_argument("--cert", type=Path, help="TLS certificate (PEM) for wss:// (TLS_CERT)")
    parser.add_argument("--key", type=Path, help="TLS private key (PEM) (TLS_KEY)")
    parser.add_argument("--allow-insecure", action="store_true",
                        help="allow plain ws:// on a non-loopback interface (e.g. behind a TLS proxy)")
    parser.add_argument("--record-dir", type=Path, help="record each call here: caller.wav, bot.wav, events.jsonl")
    parser.add_argument("--script", type=Path, help="bot script for the offline responder (BOT_SCRIPT)")
    parser.add_argument("--transfer-number", help="number transfer_to_agent sends calls to (TRANSFER_NUMBER)")
    fleet = parser.add_argument_group("fleet (see README: Running a fleet)")
    fleet.add_argument("--bus", metavar="URL", help="publish every call to Redis Streams, take supervisor "
                       "commands from it: redis://HOST:PORT/DB (BOT_BUS)")
    fleet.add_argument("--worker-id", help="this worker's name on the bus (default HOST-PID)")
    fleet.add_argument("--workers", type=int, default=1, metavar="N",
                       help="run N worker processes on one port (SO_REUSEPORT); needs a fixed --port")
    fleet.add_argument("--metrics-port", type=int, metavar="PORT",
                       help="serve Prometheus metrics on this port (0 = any free port; with --workers N, "
                            "worker i uses PORT+i)")
    fleet.add_argument("--drain-timeout", type=float, default=30.0, metavar="S",
                       help="on SIGTERM, stop taking calls and let live ones finish for up to S seconds")
    fleet.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)


_FLAGS = {
    "host": "bot_host", "port": "bot_port", "path": "bot_path", "sample_rate": "bot_sample_rate",
    "token": "bot_token", "monitor_token": "monitor_token", "cert": "tls_cert", "key": "tls_key",
    "record_dir": "record_dir", "script": "bot_script", "transfer_number": "transfer_number",
    "monitor_open": "monitor_open", "allowed_origins": "bot_allowed_origins",
}


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    out = {field: getattr(args, flag) for flag, field in _FLAGS.items() if getattr(args, flag, None) is not None}
    if isinstance(out.get("bot_sample_rate"), str):
        out["bot_sample_rate"] = _rate(out["bot_sample_rate"])
    return out


def main(args: argparse.Namespace) -> int:
    settings = load_bot_settings(**overrides_from(args))
    fleet = FleetOptions.from_args(args)
    if fleet.workers > 1:
        from voice.fleet.workers import run_workers  # noqa: PLC0415 - the fleet's Redis client only with --workers/--fleet

        return run_workers(args, settings, fleet)
    if getattr(args, "verbose", 0) == 0:
        # The call log (guide format) is the point of running headless: show INFO lines.
        logging.getLogger("voice").setLevel(logging.INFO)
    try:
        return asyncio.run(serve(settings, allow_insecure=bool(args.allow_insecure), fleet=fleet))
    except ProviderError as exc:
        print(f"kconsole bot: {exc}", file=sys.stderr)
        return 2


def _monitor_note(settings: Any) -> str:
    if settings.monitor_token or settings.bot_token:
        return "token required"
    if settings.monitor_open:
        return "open: no token, loopback only"
    return "off: set MONITOR_TOKEN, or MONITOR_OPEN=1 / --monitor-open for a loopback bot"


def transfer_line(configured: Any, effective: Any) -> str:
    """Where `transfer` sends a caller, for the start-up banner: the configured number, else the
    bot script's (which TRANSFER_NUMBER overrides), else off."""
    if configured.transfer_number:
        return f"to {configured.transfer_number}"
    if effective.transfer_number:
        return f"to {effective.transfer_number} (from the bot script; TRANSFER_NUMBER overrides)"
    return "off (no TRANSFER_NUMBER)"


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """The fleet flags of one `kconsole bot` run (all off: a lone bot, as before)."""

    bus: str | None = None
    worker_id: str | None = None
    workers: int = 1
    metrics_port: int | None = None
    drain_timeout_s: float = 30.0
    reuse_port: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> FleetOptions:
        bus = getattr(args, "bus", None) or os.environ.get("BOT_BUS") or None
        if bus is not None:
            try:
                check_bus_url(bus)
            except ValueError as exc:
                raise ConfigError(f"--bus: {exc}") from None
        workers = int(getattr(args, "workers", 1) or 1)
        if not 1 <= workers <= 64:
            raise ConfigError("--workers must be between 1 and 64")
        return cls(bus=bus, worker_id=getattr(args, "worker_id", None), workers=workers,
                   metrics_port=getattr(args, "metrics_port", None),
                   drain_timeout_s=float(getattr(args, "drain_timeout", 30.0) or 0.0),
                   reuse_port=bool(getattr(args, "reuse_port", False)))


async def serve(settings: Any, *, allow_insecure: bool, ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None, fleet: FleetOptions | None = None) -> int:
    """Run the bot server until SIGTERM/SIGINT (or `stop`); `ready` is set once it listens."""
    from voice.providers.factory import build_providers  # noqa: PLC0415 - loads the vendor SDKs; only to serve

    fleet = fleet or FleetOptions()
    providers = build_providers(settings)
    server = BotServer(settings, providers=providers, allow_insecure=allow_insecure, reuse_port=fleet.reuse_port)
    await server.start()  # a ConfigError (port taken, TLS files) reaches the router as one line
    runtime = await _start_fleet(server, fleet)
    publisher = runtime.publisher
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    token_note = "  (token required: append ?token=… or /<token>)" if settings.bot_token else ""
    lines = [
        "kconsole bot: serving",
        f"  voice:     {server.url}{token_note}",
        f"  monitor:   {server.monitor_url}  ({_monitor_note(settings)})",
        f"  rate:      {settings.bot_sample_rate} Hz by default (per call: ?sample_rate=8000)",
        f"  providers: {providers.description}",
        f"  transfer:  {transfer_line(settings, server.settings)}",
    ]
    if settings.record_dir:
        lines.append(f"  recording: {settings.record_dir}")
    if publisher is not None:
        lines.append(f"  bus:       {describe_bus_url(publisher.url)} as worker {publisher.worker_id}")
    if runtime.metrics_port is not None:
        lines.append(f"  metrics:   http://127.0.0.1:{runtime.metrics_port}/metrics")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        print("kconsole bot: stopping", flush=True)
        if fleet.drain_timeout_s > 0 and server.sessions:
            if publisher is not None:
                await publisher.draining()
            left = await server.drain(fleet.drain_timeout_s)
            if left:
                print(f"kconsole bot: {left} calls still live after {fleet.drain_timeout_s:.0f} s; ending them",
                      flush=True)
        await server.close()
        await runtime.close()
        for line in server.stats.lines():
            print(f"  {line}", flush=True)
    return 0



@dataclass(slots=True)
class FleetRuntime:
    """What `--bus` / `--metrics-port` started beside the server; neither is in the call path."""

    publisher: FleetPublisher | None = None
    metrics: WorkerMetrics | None = None
    metrics_port: int | None = None
    lag: LoopLagMonitor | None = None

    async def close(self) -> None:
        if self.publisher is not None:
            await self.publisher.close()
        if self.metrics is not None:
            self.metrics.close()
        if self.lag is not None:
            self.lag.stop()


async def _start_fleet(server: BotServer, fleet: FleetOptions) -> FleetRuntime:
    runtime = FleetRuntime()
    if not fleet.bus and fleet.metrics_port is None:
        return runtime
    from voice.fleet.looplag import LoopLagMonitor  # noqa: PLC0415 - the fleet's Redis client only with --workers/--fleet

    runtime.lag = LoopLagMonitor()
    runtime.lag.start()
    if fleet.metrics_port is not None:
        from voice.fleet.metrics import WorkerMetrics  # noqa: PLC0415 - the fleet's Redis client only with --workers/--fleet

        runtime.metrics = WorkerMetrics(lambda: len(server.sessions))
        runtime.metrics.attach(server.bus)
        runtime.lag.on_sample = runtime.metrics.loop_lag.observe
        try:
            runtime.metrics_port = runtime.metrics.serve(fleet.metrics_port)
        except OSError as exc:
            await runtime.close()
            raise ConfigError(f"cannot serve metrics on port {fleet.metrics_port}: {exc.strerror or exc}") from None
    if fleet.bus:
        from voice.fleet.publisher import FleetPublisher  # noqa: PLC0415 - redis only when asked

        runtime.publisher = FleetPublisher(server, fleet.bus, worker_id=fleet.worker_id, lag=runtime.lag)
        if runtime.metrics is not None:
            runtime.publisher.on_dropped = runtime.metrics.bus_dropped.inc
        await runtime.publisher.start()
    return runtime
