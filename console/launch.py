"""`kconsole` (the default command): open the console.

- With KNOWLARITY_SR_API_KEY and KNOWLARITY_API_KEY in the environment or `.env` it
  connects to Knowlarity (base and stream URLs from settings).
- `--sandbox URL` connects to a running `kconsole sandbox` instead, with the sandbox's
  default keys unless others are given.
- `--bot URL [--monitor-token T]` also watches a voice bot through its `/monitor` feed.
- `--serve-bot [HOST:]PORT` runs the voice bot inside the console instead (the bot
  settings of the environment), its panel fed in-process as in the demo.
- `--bus redis://HOST:PORT/DB` watches every call of a bot fleet through Redis (alongside
  or instead of `--bot`). With only `--bot` / `--bus` and no Knowlarity keys the console
  opens on the Bot view, and the other views say they need an account.
- `--agent NUMBER` says whose calls are "mine" (also KNOWLARITY_AGENT_NUMBER).

A missing or bad setting ends with one line naming it (ConfigError), never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console.app import VIEWS, ConsoleDeps, build_app
from console.botwatch import BotWatcher, MonitorWatcher
from console.config import ConsoleSettings, load_console_settings
from kcommon.errors import ConfigError

SANDBOX_SR_KEY = "sandbox-sr-key"    # sandbox.server.DEFAULT_SR_API_KEY
SANDBOX_API_KEY = "sandbox-api-key"  # sandbox.server.DEFAULT_API_KEY
VIEW_NAMES = [name for name, _, _, _ in VIEWS]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--sandbox", metavar="URL", help="connect to a running sandbox (e.g. http://127.0.0.1:8100)")
    parser.add_argument("--sr-key", metavar="KEY", help="SR API key (better: KNOWLARITY_SR_API_KEY in .env)")
    parser.add_argument("--api-key", metavar="KEY", help="application access key (better: KNOWLARITY_API_KEY)")
    parser.add_argument("--channel", help="Basic, Advance, Premium or Enterprise (KNOWLARITY_CHANNEL)")
    parser.add_argument("--bot", metavar="URL", help="watch a voice bot's /monitor feed (ws://HOST:PORT/monitor)")
    parser.add_argument("--monitor-token", metavar="TOKEN", help="the bot's monitor token (or MONITOR_TOKEN)")
    parser.add_argument("--serve-bot", metavar="[HOST:]PORT",
                        help="run the voice bot in this process (bot settings from the environment) and watch it")
    parser.add_argument("--bus", metavar="URL", help="watch a bot fleet through Redis: redis://HOST:PORT/DB (BOT_BUS)")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options the console and the demo share."""
    parser.add_argument("--agent", metavar="NUMBER", help="my agent number: picks my calls out of the stream")
    parser.add_argument("--k-number", metavar="NUMBER", help="the SR number to dial from (KNOWLARITY_K_NUMBER)")
    parser.add_argument("--view", choices=VIEW_NAMES, default="live", help="the view to open first")
    parser.add_argument("--keymap", metavar="FILE", type=Path,
                        help="TOML file of binding id = \"key\" (ids are listed in the ? help)")


def load_keymap(path: Path | None) -> dict[str, str]:
    """Read a keymap file: `binding.id = "key"` lines, e.g. `"app.dial" = "ctrl+d"`."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the keymap {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the keymap {path} is not valid TOML: {exc}") from None
    keymap: dict[str, str] = {}

    def walk(prefix: str, table: dict[str, Any]) -> None:
        for key, value in table.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value)
            elif isinstance(value, str) and value.strip():
                keymap[name] = value.strip()
            else:
                raise ConfigError(f"keymap {path}: {name} must be a key name in quotes")

    walk("", data)
    return keymap


def sandbox_settings(url: str, args: argparse.Namespace) -> ConsoleSettings:
    """Settings pointing at a sandbox: its base URL, its stream path, its default keys."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--sandbox must be an http:// URL like http://127.0.0.1:8100 (got {url!r})")
    base = f"{parts.scheme}://{parts.netloc}"
    return load_console_settings(
        base_url=base,
        stream_url=f"{base}/update-stream/{{sr_api_key}}/konnect",
        sr_api_key=args.sr_key or SANDBOX_SR_KEY,
        api_key=args.api_key or SANDBOX_API_KEY,
        **_common_overrides(args),
    )


def _common_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "channel", None):
        out["channel"] = args.channel
    if getattr(args, "agent", None):
        out["agent_number"] = args.agent
    if getattr(args, "k_number", None):
        out["k_number"] = args.k_number
    return out


def settings_from_args(args: argparse.Namespace) -> ConsoleSettings:
    if args.sandbox:
        return sandbox_settings(args.sandbox, args)
    overrides = _common_overrides(args)
    if args.sr_key:
        overrides["sr_api_key"] = args.sr_key
    if args.api_key:
        overrides["api_key"] = args.api_key
    settings = load_console_settings(**overrides)
    settings.require_credentials()
    return settings


@contextlib.contextmanager
def quiet_logging(verbose: int) -> Iterator[Path | None]:
    """While the full-screen UI runs, log lines must not land on the terminal (they would
    tear the display): they go to a file when -v was given, nowhere otherwise."""
    root = logging.getLogger()
    saved = root.handlers[:]
    path: Path | None = None
    for handler in saved:
        root.removeHandler(handler)
    if verbose:
        path = Path(tempfile.gettempdir()) / f"kconsole-{os.getpid()}.log"
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.addHandler(handler)
    else:
        root.addHandler(logging.NullHandler())
    try:
        yield path
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            with contextlib.suppress(Exception):
                handler.close()
        for handler in saved:
            root.addHandler(handler)


def make_stream_factory(settings: ConsoleSettings, client: Any) -> Any:
    from console.api.stream import LiveStream  # noqa: PLC0415 - each part loads only when used, and fails alone

    def factory(on_state: Any) -> Any:
        return LiveStream.from_settings(settings, client=client, on_state=on_state)

    return factory


def describe_source(settings: ConsoleSettings, sandbox: bool) -> str:
    host = urlsplit(settings.base_url).netloc
    return f"sandbox {host}" if sandbox else f"Knowlarity {settings.channel} ({host})"


async def run_console(
    settings: ConsoleSettings,
    *,
    source: str,
    bot: BotWatcher | None = None,
    keymap: dict[str, str] | None = None,
    start_view: str = "live",
    serve_bot: str | None = None,
    account: bool = True,
) -> int:
    from console.api.client import KnowlarityClient  # noqa: PLC0415 - each part loads only when used, and fails alone

    embedded = None
    if serve_bot:
        from console.botwatch import BusWatcher  # noqa: PLC0415 - each part loads only when used, and fails alone
        from console.embedded_bot import start_embedded_bot  # noqa: PLC0415 - each part loads only when used, and fails alone

        embedded = await start_embedded_bot(serve_bot)
        bot = BusWatcher(embedded.bus)
        source = f"{source} · bot {embedded.url}"
    if account:
        client = KnowlarityClient.from_settings(settings)
    else:
        from console.noaccount import account_less_client  # noqa: PLC0415 - each part loads only when used, and fails alone

        client = account_less_client(settings)
    deps = ConsoleDeps(
        client=client,
        settings=settings,
        stream_factory=make_stream_factory(settings, client) if account else None,
        bot=bot,
        source=source,
        keymap=keymap or {},
        start_view=start_view,
        bot_voice=(embedded.url, embedded.token, embedded.sample_rate) if embedded is not None else None,
    )
    app = build_app(deps)
    try:
        await app.run_async()
    finally:
        if bot is not None:
            await bot.aclose()
        await client.aclose()
        if embedded is not None:
            await embedded.close()
    return app.return_code or 0


def bot_watcher_from_args(args: argparse.Namespace) -> BotWatcher | None:
    """--bot and/or --bus (BOT_BUS) as one watcher; None when neither was given."""
    watchers: list[BotWatcher] = []
    if getattr(args, "bot", None):
        token = args.monitor_token or os.environ.get("MONITOR_TOKEN")
        try:
            watchers.append(MonitorWatcher(args.bot, token=token))
        except ValueError as exc:
            raise ConfigError(f"--bot: {exc}") from None
    bus = getattr(args, "bus", None) or os.environ.get("BOT_BUS")
    if bus:
        from console.fleetwatch import FleetWatcher  # noqa: PLC0415 - redis only when asked

        try:
            watchers.append(FleetWatcher(bus))
        except ValueError as exc:
            raise ConfigError(f"--bus: {exc}") from None
    if len(watchers) > 1:
        from console.mergewatch import MergedWatcher  # noqa: PLC0415 - each part loads only when used, and fails alone

        return MergedWatcher(watchers)
    return watchers[0] if watchers else None


def main(args: argparse.Namespace) -> int:
    keymap = load_keymap(args.keymap)
    serve_bot = getattr(args, "serve_bot", None)
    if serve_bot and (args.bot or getattr(args, "bus", None)):
        raise ConfigError("--serve-bot runs a bot here and --bot/--bus watch bots elsewhere: give one of them")
    if serve_bot:
        from console.embedded_bot import parse_listen  # noqa: PLC0415 - each part loads only when used, and fails alone

        parse_listen(serve_bot)  # a bad spec is one line before the screen opens
    bot = bot_watcher_from_args(args)
    account = True
    if bot is not None and not args.sandbox and not args.sr_key and not args.api_key:
        settings = load_console_settings(**_common_overrides(args))
        account = settings.has_credentials
    else:
        settings = settings_from_args(args)
    source = describe_source(settings, bool(args.sandbox)) if account else "no Knowlarity account: bots only"
    view = args.view if account or args.view != "live" else "bot"
    with quiet_logging(getattr(args, "verbose", 0)) as log_path:
        code = asyncio.run(run_console(settings, source=source, bot=bot, keymap=keymap, start_view=view,
                                       serve_bot=serve_bot, account=account))
    if log_path is not None:
        print(f"kconsole: log written to {log_path}")
    return code
