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
import signal
import sys
from pathlib import Path
from typing import Any

from voice.config import ConfigError, load_bot_settings
from voice.providers.base import ProviderError
from voice.server import BotServer, parse_rate


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
    if getattr(args, "verbose", 0) == 0:
        # The call log (guide format) is the point of running headless: show INFO lines.
        logging.getLogger("voice").setLevel(logging.INFO)
    try:
        return asyncio.run(_serve(settings, allow_insecure=bool(args.allow_insecure)))
    except ProviderError as exc:
        print(f"kconsole bot: {exc}", file=sys.stderr)
        return 2


def _monitor_note(settings: Any) -> str:
    if settings.monitor_token or settings.bot_token:
        return "token required"
    if settings.monitor_open:
        return "open: no token, loopback only"
    return "off: set MONITOR_TOKEN, or MONITOR_OPEN=1 / --monitor-open for a loopback bot"


def _transfer_line(configured: Any, effective: Any) -> str:
    if configured.transfer_number:
        return f"to {configured.transfer_number}"
    if effective.transfer_number:
        return f"to {effective.transfer_number} (from the bot script; TRANSFER_NUMBER overrides)"
    return "off (no TRANSFER_NUMBER)"


async def _serve(settings: Any, *, allow_insecure: bool, ready: asyncio.Event | None = None,
                 stop: asyncio.Event | None = None) -> int:
    from voice.providers.factory import build_providers

    providers = build_providers(settings)
    server = BotServer(settings, providers=providers, allow_insecure=allow_insecure)
    await server.start()  # a ConfigError (port taken, TLS files) reaches the router as one line
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
        f"  transfer:  {_transfer_line(settings, server.settings)}",
    ]
    if settings.record_dir:
        lines.append(f"  recording: {settings.record_dir}")
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
        await server.close()
        for line in server.stats.lines():
            print(f"  {line}", flush=True)
    return 0
