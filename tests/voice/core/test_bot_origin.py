"""A hostile web page open on the operator's machine cannot reach /voice or /monitor.

Browsers send `Origin` on every WebSocket handshake and let any page connect anywhere, so
a token-less loopback bot was a cross-site WebSocket hijack away from having its calls
watched and transferred. Origins are refused unless allowed; the Stream Node (no Origin)
and our own clients still connect; /monitor needs a token unless opened explicitly.
"""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from kcommon.errors import ConfigError
from voice.config import load_bot_settings, normalise_origin

EVIL = "https://evil.example"


async def _status(url: str, **kw: object) -> int:
    try:
        async with connect(url, **kw):  # type: ignore[arg-type]
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_a_web_page_cannot_open_the_monitor_or_a_call(bot_factory):
    bot = await bot_factory(monitor_token="mon")
    monitor = bot.server.monitor_url + "?token=mon"
    assert await _status(monitor, origin=EVIL) == 403  # before: 101, and it could transfer calls
    assert await _status(monitor, additional_headers={"Origin": "null"}) == 403  # a sandboxed iframe or file://
    assert await _status(bot.server.url, origin=EVIL) == 403
    assert await _status(bot.server.url, origin="http://127.0.0.1:8000") == 403  # loopback pages too
    assert not bot.server.sessions and not bot.providers.stt.streams
    assert await _status(monitor) == 101  # our own clients send no Origin
    node = await bot.call()  # nor does the Stream Node
    await node.wait_count("playAudio")


async def test_allowed_origins_are_matched_exactly(bot_factory):
    bot = await bot_factory(monitor_token="mon", bot_allowed_origins="https://Ops.Example.com:443, http://localhost:3000")
    monitor = bot.server.monitor_url + "?token=mon"
    assert await _status(monitor, origin="https://ops.example.com") == 101
    assert await _status(monitor, origin="http://localhost:3000") == 101
    for other in ("https://ops.example.com.evil.example", "http://ops.example.com", "https://localhost:3000",
                  "http://localhost:3001"):
        assert await _status(monitor, origin=other) == 403, other
    assert await _status(monitor, additional_headers=[("Origin", "http://localhost:3000"), ("Origin", EVIL)]) == 403


async def test_monitor_needs_a_token_unless_opened_explicitly_on_loopback(bot_factory):
    closed = await bot_factory()  # before: open to anything on the machine
    assert await _status(closed.server.monitor_url) == 403
    opened = await bot_factory(monitor_open=True)
    async with connect(opened.server.monitor_url) as mon:
        await mon.send(json.dumps({"command": "hangup", "call_id": "nobody"}))
        assert "command_result" in await mon.recv()
    assert await _status(opened.server.monitor_url, origin=EVIL) == 403  # open is still not open to pages


def test_origin_settings_are_checked() -> None:
    assert normalise_origin("HTTPS://Example.COM:443/") == "https://example.com"
    assert normalise_origin("http://[::1]:80") == "http://[::1]"
    for bad in ("example.com", "ftp://x", "https://x/path", "https://u:p@x", "null", "https://x:99999"):
        assert normalise_origin(bad) is None, bad
    with pytest.raises(ConfigError, match="BOT_ALLOWED_ORIGINS"):
        load_bot_settings(_env_file=None, bot_allowed_origins="https://ok.example,evil")
