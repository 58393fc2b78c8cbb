"""`kconsole sandbox`: serve the local stand-in for Knowlarity's cloud until Ctrl-C.

On start it prints what a user needs to point anything at it: the REST base URL, the
live stream URL, the two keys it accepts, the account's well-known numbers and an
example curl. The keys printed are the sandbox's own (from the command line), which the
user chose and needs to see; nothing else is ever logged with a key in it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from sandbox.seed import DNC_DOCUMENTED
from sandbox.server import DEFAULT_API_KEY, DEFAULT_SR_API_KEY, DEFAULT_USERNAME, SandboxServer

DEFAULT_PORT = 8100  # the port of Knowlarity's own stream host, easy to remember


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535 (0: any free port)")
    return value


def _page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--sr-key", default=DEFAULT_SR_API_KEY, metavar="KEY",
                        help="the SR API key to accept in Authorization and the stream URL")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, metavar="KEY", help="the x-api-key to accept")
    parser.add_argument("--traffic", type=_non_negative, default=0.0, metavar="RATE",
                        help="background calls per minute (default 0: only the calls you place)")
    parser.add_argument("--speed", type=_positive, default=1.0, metavar="S",
                        help="time compression of call lifecycles (default 1: real time)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated account (default 7)")
    parser.add_argument("--username", default=DEFAULT_USERNAME, metavar="NAME",
                        help=f"the account's user name, for the documented USERNAME:KEY headers (default {DEFAULT_USERNAME})")
    parser.add_argument("--page-size", type=_page_size, default=1000, metavar="N",
                        help="most rows per page of a list answer (default 1000, as documented)")


def banner(sb: SandboxServer, out: TextIO) -> None:
    a = sb.account
    me = a.default_agent
    sr_key, api_key = sb._sr_api_key, sb._api_key  # the user's own sandbox keys, shown on purpose
    traffic = f"{sb.traffic_rate:g} calls/min" if sb.traffic_rate else "off (--traffic RATE to turn on)"
    lines = [
        f"Knowlarity sandbox: seed {sb.seed}, speed {sb.speed:g}x, background traffic {traffic}",
        f"  REST base URL  {sb.base_url}   (paths like /Basic/v1/account/agent)",
        f"  Live stream    {sb.stream_url}",
        f"  Keys accepted  Authorization: {sr_key}    x-api-key: {api_key}    user name: {sb.username}",
        f"  Numbers        main {a.main_number}  missed-call {a.missed_call_number}  "
        f"voice bot {a.bot_number}  caller id {a.cli_number}",
        f"  You (agent)    {me.name} {me.phone_number}; Do-Not-Call example {DNC_DOCUMENTED}",
        "  Try:",
        f"    curl -s -H 'Authorization: {sr_key}' -H 'x-api-key: {api_key}' {sb.base_url}/Basic/v1/account/agent",
        f"    curl -N {sb.stream_url}",
        f"    curl -s -X POST -H 'Authorization: {sr_key}' -H 'x-api-key: {api_key}' "
        f"-d '{{\"k_number\": \"{a.main_number}\", \"agent_number\": \"{me.phone_number}\", "
        f"\"customer_number\": \"+919811112222\"}}' {sb.base_url}/Basic/v1/account/call/makecall",
        "  Console settings:",
        f"    KNOWLARITY_BASE_URL={sb.base_url} KNOWLARITY_SR_API_KEY={sr_key} KNOWLARITY_API_KEY={api_key} "
        f"KNOWLARITY_STREAM_URL={sb.base_url}/update-stream/{{sr_api_key}}/konnect",
        "Ctrl-C stops it.",
    ]
    print("\n".join(lines), file=out, flush=True)


async def serve(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        sb = SandboxServer(
            host=args.host, port=args.port, sr_api_key=args.sr_key, api_key=args.api_key, seed=args.seed,
            traffic_rate=args.traffic, speed=args.speed, username=args.username, page_size=args.page_size,
        )
    except ValueError as exc:
        print(f"kconsole sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        await sb.start()
    except OSError as exc:
        print(f"kconsole sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        banner(sb, out)
        await stop.wait()
    finally:
        await sb.close()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:  # Ctrl-C: asyncio.run has already cancelled serve(), which closed the server
        print("sandbox stopped", file=sys.stderr)
        return 0
