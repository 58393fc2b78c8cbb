"""The voice-stream bot inside the console process, on a real account as in the demo.

`kconsole --serve-bot [HOST:]PORT` starts `voice.server.BotServer` in the console's own
event loop with the bot settings of the environment (providers, greeting, transfer number,
TLS_CERT/TLS_KEY, BOT_TOKEN: the same ones `kconsole bot` reads), publishing on an
in-process `EventBus` that the Bot view watches directly, exactly as the demo's panel does:
no /monitor socket, no token to share, every transcript line as it is spoken. Knowlarity's
Stream Node is pointed at the printed URL (it must be reachable over WSS: a TLS proxy in
front, or TLS_CERT/TLS_KEY here). No Textual here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kcommon.errors import ConfigError
from voice.bus import EventBus
from voice.config import load_bot_settings

__all__ = ["EmbeddedBot", "parse_listen", "start_embedded_bot"]

_SPEC = re.compile(r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):)?(?P<port>\d{1,5})$")


def parse_listen(spec: str) -> tuple[str | None, int]:
    """"[HOST:]PORT" -> (host or None, port). Raises ConfigError with the reason."""
    m = _SPEC.match((spec or "").strip())
    if not m:
        raise ConfigError(f"--serve-bot takes [HOST:]PORT, like 8765 or 0.0.0.0:8765 (got {spec!r})")
    port = int(m["port"])
    if not 0 <= port <= 65535:
        raise ConfigError(f"--serve-bot: port {port} is out of range (0-65535)")
    host = m["host"]
    if host and host.startswith("["):
        host = host[1:-1]
    return host or None, port


@dataclass
class EmbeddedBot:
    """A started bot server and the bus its sessions publish on."""

    server: Any          # voice.server.BotServer
    bus: EventBus

    @property
    def url(self) -> str:
        return str(self.server.url)

    @property
    def token(self) -> str | None:
        token = self.server.settings.bot_token
        return token.get_secret_value() if token is not None else None

    @property
    def sample_rate(self) -> int:
        return int(getattr(self.server.settings, "bot_sample_rate", 16000) or 16000)

    async def close(self) -> None:
        await self.server.close()


async def start_embedded_bot(spec: str, **overrides: Any) -> EmbeddedBot:
    """Start the bot on `spec` ([HOST:]PORT) with the environment's bot settings."""
    from voice.server import BotServer  # noqa: PLC0415 - heavy (providers) only when asked

    host, port = parse_listen(spec)
    settings_overrides: dict[str, Any] = {"bot_port": port, **overrides}
    if host is not None:
        settings_overrides["bot_host"] = host
    settings = load_bot_settings(**settings_overrides)
    bus = EventBus()
    server = BotServer(settings, bus=bus)
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError(f"--serve-bot: cannot listen on {settings.bot_host}:{port}: {exc.strerror or exc}") from None
    return EmbeddedBot(server=server, bus=bus)
