"""`kconsole bot`: flags over settings, the banner (URLs, providers, never a secret), a call, Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import re

import pytest

from kcommon.errors import ConfigError
from tests.voice.core.harness import Bot
from voice import cli_bot
from voice.cli_bot import add_arguments, overrides_from, serve
from voice.config import load_bot_settings


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_override_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("BOT_PORT", "9999")
    args = _parse("--port", "0", "--sample-rate", "8k", "--path", "/bot", "--token", "t0k3n-xyz",
                  "--record-dir", str(tmp_path), "--transfer-number", "+911234")
    settings = load_bot_settings(**overrides_from(args))
    assert settings.bot_port == 0 and settings.bot_sample_rate == 8000 and settings.bot_path == "/bot"
    assert settings.bot_token is not None and settings.bot_token.get_secret_value() == "t0k3n-xyz"
    assert "t0k3n-xyz" not in repr(settings)
    assert load_bot_settings(**overrides_from(_parse())).bot_port == 9999
    with pytest.raises(ConfigError, match="--sample-rate"):
        overrides_from(_parse("--sample-rate", "11025"))
    with pytest.raises(ConfigError):
        load_bot_settings(**overrides_from(_parse("--path", "no-slash")))


async def test_bot_serves_until_stopped_and_prints_no_secret(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    for var in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    args = _parse("--port", "0", "--token", "very-secret-token", "--monitor-token", "mon-secret")
    settings = load_bot_settings(**overrides_from(args))
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, allow_insecure=False, ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 60)
    out = capsys.readouterr().out
    url = re.search(r"voice:\s+(\S+)", out).group(1)
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/voice")
    assert "monitor:" in out and "/monitor" in out
    assert "pocketsphinx" in out and "espeak" in out  # offline providers, no keys
    assert "very-secret-token" not in out and "mon-secret" not in out

    class _Srv:  # just enough of BotServer for the conftest client
        def __init__(self, url: str) -> None:
            self.url = url
            self.settings = settings

    bot = Bot(_Srv(url), None)  # type: ignore[arg-type]
    node = await bot.call(token="very-secret-token")
    await node.wait_count("playAudio", timeout=10)
    await node.hang_up()
    stop.set()
    assert await asyncio.wait_for(task, 20) == 0
    out = capsys.readouterr().out
    assert "stopping" in out and "calls: 1" in out and "greeting" in out


def test_main_reports_a_taken_port_as_one_line(monkeypatch, tmp_path):
    import socket

    monkeypatch.chdir(tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        with pytest.raises(ConfigError, match="cannot listen"):
            cli_bot.main(_parse("--port", str(sock.getsockname()[1])))
    finally:
        sock.close()
        import logging

        logging.getLogger("voice").setLevel(logging.NOTSET)  # main() raised it to INFO for the banner run
