"""`kconsole demo`: the whole product in one process, offline, in a few seconds.

Starts, in this process and on loopback only:

1. the sandbox (`sandbox.server.SandboxServer`) with background traffic, so the live
   stream carries inbound, outbound and missed calls of a dozen agents;
2. the voice bot (`voice.server.BotServer`) on the offline providers (local STT, the
   scripted receptionist, local TTS; the greeting pre-rendered), publishing on an
   in-process `EventBus`;
3. the sandbox's Stream Node (`sandbox.streamnode.attach_to_sandbox`): inbound calls to
   the account's bot number are played into the bot by scripted callers (questions, an
   interruption, a request for a person that ends in a transfer). The first one is
   placed at once, then one every `--bot-every` seconds while fewer than two are live;
4. the console, connected to the sandbox's REST API and live stream, and to the bot
   through the bus.

Quitting closes everything in order: callers hang up, the bot and the sandbox stop.
`--headless SECONDS` runs the same thing without a screen and prints what it saw: a
smoke test for CI and a quick check on a new machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from console.app import ConsoleApp, ConsoleDeps, build_app
from console.botwatch import BusWatcher
from console.config import load_console_settings
from console.launch import add_common_arguments, load_keymap, make_stream_factory, quiet_logging
from kcommon.errors import ConfigError
from voice.bus import EventBus
from voice.config import load_bot_settings

log = logging.getLogger("console.demo")

DEFAULT_TRAFFIC = 36.0   # calls per minute across the account: busy, still readable
DEFAULT_BOT_EVERY = 20.0  # seconds between simulated bot callers
MAX_LIVE_BOT_CALLS = 2


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--traffic", type=_non_negative, default=DEFAULT_TRAFFIC, metavar="RATE",
                        help=f"background calls per minute (default {DEFAULT_TRAFFIC:g}; 0: none)")
    parser.add_argument("--bot-every", type=_positive, default=DEFAULT_BOT_EVERY, metavar="SECONDS",
                        help=f"a simulated caller rings the bot this often (default {DEFAULT_BOT_EVERY:g})")
    parser.add_argument("--seed", type=int, default=7, help="the sandbox's seed (default 7)")
    parser.add_argument("--sandbox-port", type=int, default=0, metavar="PORT",
                        help="serve the demo's sandbox on this loopback port (default: any free one), "
                             "e.g. to point `kconsole --sandbox` or scripts at it too")
    parser.add_argument("--headless", type=_positive, metavar="SECONDS",
                        help="run without a screen for SECONDS, then print what was seen (smoke test)")


@dataclass
class DemoParts:
    """Everything the demo started, so it can all be stopped."""

    sandbox: Any
    bot: Any
    node: Any
    client: Any
    settings: Any
    bus: EventBus
    pacer: asyncio.Task[None] | None = None


async def start_parts(args: argparse.Namespace) -> DemoParts:
    """Start the sandbox, the bot and the Stream Node; on any failure stop what started."""
    from console.api.client import KnowlarityClient  # noqa: PLC0415 - heavy imports after arg parsing
    from sandbox.server import SandboxServer  # noqa: PLC0415 - the sandbox and the bot only for kconsole demo
    from sandbox.streamnode import attach_to_sandbox  # noqa: PLC0415 - the sandbox and the bot only for kconsole demo
    from voice.server import BotServer  # noqa: PLC0415 - the sandbox and the bot only for kconsole demo

    sandbox = SandboxServer(seed=args.seed, traffic_rate=args.traffic, port=getattr(args, "sandbox_port", 0) or 0)
    await sandbox.start()
    bot = None
    try:
        account = sandbox.account
        agents = [a for a in account.agents if a.phone_number != account.default_agent.phone_number]
        bot_settings = load_bot_settings(
            bot_host="127.0.0.1",
            bot_port=0,
            stt_provider="local",    # the demo is offline whatever keys the environment holds
            llm_provider="script",
            tts_provider="local",
            transfer_number=agents[0].phone_number if agents else account.default_agent.phone_number,
            bot_token=None,
            # The demo watches its bot in process; its /monitor socket gets a throwaway token
            # nobody is told, so no other program on this machine can steer the demo's calls.
            monitor_token=secrets.token_urlsafe(24),
        )
        bus = EventBus()
        bot = BotServer(bot_settings, bus=bus)
        await bot.start()
        node = attach_to_sandbox(sandbox, bot.url, seed=args.seed, max_concurrent=MAX_LIVE_BOT_CALLS)
        settings = load_console_settings(
            base_url=sandbox.base_url,
            stream_url=f"{sandbox.base_url}/update-stream/{{sr_api_key}}/konnect",
            sr_api_key="sandbox-sr-key",
            api_key="sandbox-api-key",
            agent_number=args.agent or account.default_agent.phone_number,
            k_number=args.k_number or account.main_number,
        )
        client = KnowlarityClient.from_settings(settings)
    except BaseException:
        if bot is not None:
            await bot.close()
        await sandbox.close()
        raise
    parts = DemoParts(sandbox=sandbox, bot=bot, node=node, client=client, settings=settings, bus=bus)
    parts.pacer = asyncio.get_running_loop().create_task(
        _pace_bot_calls(parts, args.bot_every, args.traffic), name="demo-bot-calls")
    return parts


async def _pace_bot_calls(parts: DemoParts, every: float, traffic: float) -> None:
    """A few calls at once so the board is busy from the first seconds (background traffic
    alone takes a while to build up), then a caller rings the bot, and again every `every`
    seconds while few bot calls are live."""
    if traffic > 0:
        for _ in range(3):
            try:
                parts.sandbox.traffic.place_one()
            except Exception as exc:  # noqa: BLE001 - cosmetic: the traffic generator goes on
                log.info("could not place a starting call: %s", exc)
            await asyncio.sleep(0.3)
    await asyncio.sleep(0.5)
    while True:
        if parts.node.active < MAX_LIVE_BOT_CALLS:
            try:
                parts.sandbox.place_inbound_call(knowlarity_number=parts.sandbox.account.bot_number)
            except Exception as exc:  # noqa: BLE001 - the demo goes on without this caller
                log.warning("could not place a demo bot call: %s", exc)
        await asyncio.sleep(every)


async def stop_parts(parts: DemoParts) -> None:
    """Callers hang up, then the bot, the client and the sandbox stop. Never raises."""
    from sandbox.streamnode import detach_from_sandbox  # noqa: PLC0415 - the sandbox and the bot only for kconsole demo

    if parts.pacer is not None:
        parts.pacer.cancel()
        await asyncio.gather(parts.pacer, return_exceptions=True)
    for step in (
        lambda: detach_from_sandbox(parts.sandbox, parts.node),
        parts.bot.close,
        parts.client.aclose,
        parts.sandbox.close,
    ):
        try:
            await asyncio.wait_for(step(), 10)
        except Exception as exc:  # noqa: BLE001 - shutting down: log and go on
            log.warning("demo shutdown step failed: %s", exc)


def build_demo_app(parts: DemoParts, args: argparse.Namespace) -> ConsoleApp:
    settings = parts.settings
    deps = ConsoleDeps(
        client=parts.client,
        settings=settings,
        stream_factory=make_stream_factory(settings, parts.client),
        bot=BusWatcher(parts.bus),
        bot_voice=(parts.bot.url, None, int(parts.bot.settings.bot_sample_rate or 16000)),
        source=f"demo · sandbox {parts.sandbox.base_url.removeprefix('http://')}",
        agent_poll_s=3.0,
        keymap=load_keymap(getattr(args, "keymap", None)),
        start_view=getattr(args, "view", "live") or "live",
    )
    return build_app(deps)


def summary(app: ConsoleApp) -> str:
    board, bot = app.state.board, app.state.bot
    lines = sum(len(c.lines) for c in bot.calls.values())
    barge = sum(c.barge_ins for c in bot.calls.values())
    transfers = sum(1 for c in bot.calls.values() if c.transferred_to)
    return (
        f"demo: stream {app.stream_status.status}; {board.events_total} live events, {board.calls_total} calls; "
        f"{len(app.state.agents.agents)} agents; bot calls {len(bot.calls)} "
        f"({lines} transcript lines, {barge} barge-ins, {transfers} transfers)"
    )


async def run_demo(args: argparse.Namespace) -> int:
    parts = await start_parts(args)
    app = build_demo_app(parts, args)
    try:
        if args.headless:
            app.call_later(lambda: app.set_timer(args.headless, app.exit))
            await app.run_async(headless=True, size=(140, 45))
            print(summary(app))
            return 0 if app.state.board.events_total > 0 else 1
        await app.run_async()
        return app.return_code or 0
    finally:
        await stop_parts(parts)


def main(args: argparse.Namespace) -> int:
    if args.headless is None and not sys.stdout.isatty():
        raise ConfigError("the demo needs a terminal; use --headless SECONDS to run it without one")
    if not args.headless:
        print("Starting the sandbox, the voice bot and its callers …", file=sys.stderr, flush=True)
    with quiet_logging(getattr(args, "verbose", 0)) as log_path:
        code = asyncio.run(run_demo(args))
    if log_path is not None:
        print(f"kconsole: log written to {log_path}", file=sys.stderr)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return code
