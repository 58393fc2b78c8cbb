"""Whatever a caller or a supervisor sends reaches the bot's log as data: a `%` in a call id
is never a format, CR/LF/ESC/NUL never forge a line, and no record is ever lost.

A real BotServer on loopback takes hostile call ids, numbers and call types in the metadata,
refused paths, malformed metadata and monitor commands; every record it logs is formatted by
an ordinary `logging.Formatter`, as `kconsole bot` does, and read back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.voice.core.core_fakes import voiced
from voice import protocol

HOSTILE_IDS = [
    "fmt%99999s",  # before: expanded into a 100 KB line (fmt%400000000s allocated ~340 MB)
    "a%s%s%s%s%s%d%(x)s",  # before: the line failed to format ("--- Logging error ---") and was lost
    "id\r\n2026-01-01 00:00:00,000 [call_id=forged] [BOT       ] transfer approved",
    "esc\x1b[2J\x1b]0;pwned\x07nul\x00end",
    "uni\u2028line\u202esrever",
]
RAW_CONTROLS = ("\r", "\n", "\x1b", "\x00", "\x07", "\u2028", "\u202e")


class Lines(logging.Handler):
    """Formats every record as `kconsole bot` does and keeps the text (and any failure)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        self.lines: list[str] = []
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as exc:  # noqa: BLE001 - what logging would print as "--- Logging error ---"
            self.failures.append(f"{type(exc).__name__}: {exc}")

    def handleError(self, record: logging.LogRecord) -> None:
        self.failures.append("handleError")


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def assert_safe(handler: Lines) -> None:
    assert not handler.failures, handler.failures
    for line in handler.lines:
        first, _, traceback = line.partition("\nTraceback")
        assert not any(c in first for c in RAW_CONTROLS), repr(line[:300])
        assert len(first) < 4000, f"a {len(first)}-character line: {first[:120]!r}"
        assert not any(c in traceback.replace("\n", "") for c in RAW_CONTROLS), repr(traceback[-300:])


@pytest.mark.parametrize("callid", HOSTILE_IDS)
async def test_hostile_call_ids_and_numbers_are_logged_as_data(bot_factory, lines: Lines, callid: str):
    bot = await bot_factory()
    meta = protocol.CallMetadata(callid=callid, virtual_number="+91%s\r\nforged\x1b[31m",
                                 customer_number="%d%d\n99", call_type="in%sbound\x00")
    node = await bot.call(metadata=protocol.encode_metadata(meta))
    await node.wait_count("playAudio")
    twin = await bot.call(metadata=protocol.encode_metadata(meta))  # the same id twice: "#2"
    await twin.wait_count("playAudio")
    await node.say(voiced(16000, 300))
    await twin.hang_up()
    await node.hang_up()
    await asyncio.sleep(0.2)
    assert_safe(lines)
    connected = [line for line in lines.lines if "connected from" in line]
    assert len(connected) == 2, lines.lines  # no record of the call went missing
    shown = callid.translate({0x0D: "\\r", 0x0A: "\\n", 0x1B: "\\x1b", 0x00: "\\0", 0x07: "\\x07",
                              0x2028: "\\u2028", 0x202E: "\\u202e"})
    assert f"[call_id={shown}]" in connected[0]  # shown literally, escaped, % untouched
    assert "virtual_number=+91%s\\r\\nforged\\x1b[31m" in connected[0]
    assert any(f"[call_id={shown}#2]" in line for line in lines.lines)
    assert any("call ended" in line and shown in line for line in lines.lines)


async def test_refusals_malformed_metadata_and_monitor_commands_log_safely(bot_factory, lines: Lines):
    bot = await bot_factory(bot_token="voice-tok", monitor_token="mon-tok")
    base = bot.server.url.rsplit("/", 1)[0]
    for path in ("/%s%s%d\x1b[2J", "/voice%0d%0aforged", "/voice/%25n%25s?token=%0d%0a"):
        with pytest.raises(InvalidStatus):
            await connect(base + path)
    for bad in ('{"callid": "x", "virtual_number": 1e999, "\\r\\nforged%s": {}}',
                '{"callid": "%s%s\\u001b[2J", "call_type": ["%d"]}', "{'callid': None, '\\x1b%s': 1}"):
        ws = await connect(bot.url(token="voice-tok"))
        await ws.send(bad)
        await asyncio.wait_for(ws.wait_closed(), 5)
    async with connect(bot.server.monitor_url + "?token=mon-tok") as mon:
        for call_id in ("%s%s%d", "x\r\nforged\x1b[2J"):
            await mon.send(json.dumps({"command": "hangup", "call_id": call_id}))
            reply = json.loads(await asyncio.wait_for(mon.recv(), 5))
            while reply.get("kind") != "command_result":
                reply = json.loads(await asyncio.wait_for(mon.recv(), 5))
            assert reply["ok"] is False
    await asyncio.sleep(0.1)
    assert_safe(lines)
    assert sum("refused" in line for line in lines.lines) == 3
    assert sum("metadata" in line.lower() for line in lines.lines) >= 3


async def test_the_bot_never_logs_a_token_from_a_path(bot_factory, lines: Lines) -> None:
    token, monitor = "bot-tok-7Rq2Lx9Vw4Mn", "mon-tok-3Kc8Zp1Ys6Bd"
    bot = await bot_factory(bot_token=token, monitor_token=monitor)
    base = bot.server.url.rsplit("/", 1)[0]
    for path in (f"/{token}x", f"/voice;token={token}x", f"/voice/{token}x", f"/{token}", f"/monitor/{monitor}x",
                 f"/voice?{token}x", f"/voice?token={token.upper()}", "/x;token=short"):
        with pytest.raises(InvalidStatus):
            await connect(base + path)
    node = await bot.call(url=f"{bot.server.url}/{token}")
    await node.wait_count("playAudio")
    await node.hang_up()
    text = "\n".join(lines.lines)
    assert "refused" in text and "GET /" in text  # websockets' own debug lines were captured too
    for secret in (token, monitor, token[:12], token.upper(), "short"):
        assert secret.lower() not in text.lower(), secret
