"""Keys and tokens never leak through a side path: a library's debug log, an echoed error
body, a settings error, a refused bot path.

Real loopback servers and the real client libraries; every log record of the process (httpx,
httpcore, websockets, aiohttp, ours) is captured at DEBUG, as `-vv` would write it.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web

from console.api import KnowlarityClient, KnowlarityError
from console.config import load_console_settings
from kcommon.errors import ConfigError
from voice.config import load_bot_settings

SR_KEY = "srk-Z81mQ4vX7pL2nB9cW3tY6hJ0"
API_KEY = "apk-Q7rT2mK9xW4vN8bL1cZ5"
ROOT = Path(__file__).resolve().parents[2]


def forms(key: str) -> list[str]:
    """The ways a key showed up before: as is, upper-cased, URL-encoded, base64, a partial echo."""
    return [key, key.upper(), key.lower(), quote(key, safe=""), base64.b64encode(key.encode()).decode()[:-4],
            key[:12], key[-10:]]


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def everything() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def assert_hidden(text: str, key: str) -> None:
    for form in forms(key):
        assert form.lower() not in text.lower(), f"{form!r} leaked: ...{text[max(0, text.lower().find(form.lower()) - 80):][:200]!r}"


@pytest.fixture
async def echoing_server() -> AsyncIterator[str]:
    """Answers like a misbehaving API: a redirect carrying the key, error bodies echoing it."""

    async def handle(request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Authorization", "")
        if "agent" in request.path:
            raise web.HTTPFound(f"https://elsewhere.example/login?k={key}&next=/x")
        echo = f"invalid key {key.upper()} ({base64.b64encode(key.encode()).decode()}) near {key[:12]}..."
        return web.json_response({"error": {"message": echo, "key": key, quote(key, safe=""): [key]}}, status=403)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)  # aiohttp's access log stays on: it is one more library logger
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_library_debug_logs_and_error_bodies_never_show_the_keys(echoing_server: str, everything: Everything) -> None:
    client = KnowlarityClient(base_url=echoing_server, sr_api_key=SR_KEY, api_key=API_KEY, retries=0)
    try:
        with pytest.raises(KnowlarityError) as redirect:
            await client.list_agents()  # httpcore logs the 302's Location: ...?k=<key> at DEBUG
        with pytest.raises(KnowlarityError) as echoed:
            await client.list_tasks()
    finally:
        await client.aclose()
    assert any(line.startswith("httpcore") for line in everything.lines)  # -vv really logged
    for text in (everything.text, str(redirect.value), repr(echoed.value), str(echoed.value), str(echoed.value.body)):
        assert_hidden(text, SR_KEY)
    assert "***" in str(echoed.value.body)


@pytest.mark.parametrize(("env", "value"), [
    ("KNOWLARITY_CHANNEL", SR_KEY), ("KNOWLARITY_BASE_URL", f"ftp://admin:{SR_KEY}@host"),
    ("KNOWLARITY_TIMEOUT", SR_KEY), ("BOT_PATH", SR_KEY), ("BOT_PORT", SR_KEY), ("TTS_PROVIDER", SR_KEY),
])
def test_settings_errors_name_the_setting_never_its_value(monkeypatch, tmp_path, env: str, value: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(env, value)
    load = load_bot_settings if not env.startswith("KNOWLARITY_") else load_console_settings
    with pytest.raises(ConfigError) as err:
        load()
    text = str(err.value)
    assert env in text and "\n" not in text
    assert_hidden(text, SR_KEY)


@pytest.mark.parametrize("value", ["abc\ndef", "   ", "k3y with spaces", "tab\tk3y", "nul\x00k3y"])
@pytest.mark.parametrize("env", ["KNOWLARITY_SR_API_KEY", "DEEPGRAM_API_KEY", "BOT_TOKEN"])
def test_a_key_with_a_line_break_or_only_spaces_is_one_clear_line(monkeypatch, tmp_path, env: str, value: str) -> None:
    monkeypatch.chdir(tmp_path)
    if "\x00" in value:  # no environment variable can hold NUL; a .env file or a flag can
        (tmp_path / ".env").write_text(f"{env}={value}\n")
    else:
        monkeypatch.setenv(env, value)
    load = load_console_settings if env.startswith("KNOWLARITY_") else load_bot_settings
    with pytest.raises(ConfigError, match=env) as err:
        load()
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    for part in value.split():
        assert part not in text.split(":", 1)[1], part


def test_kconsole_with_a_broken_key_exits_with_one_line(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "KNOWLARITY_SR_API_KEY": "abc\ndef",
           "KNOWLARITY_API_KEY": "   "}
    run = subprocess.run([sys.executable, "-m", "console.cli", "console"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env=env)
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert "KNOWLARITY_SR_API_KEY" in run.stderr and "abc" not in run.stderr


def test_kconsole_call_never_prints_a_token_from_the_url(tmp_path) -> None:
    """Before: `kconsole call ws://.../voice#TOKEN` printed the token (websockets quotes the URL)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    for url in ("ws://127.0.0.1:1/voice#FRAG-SECRET-77", "ws://127.0.0.1:1/voice/Tok3nSecret99?x=1",
                "ws://127.0.0.1:1/voice;token=PARAM-SECRET-5?token=QUERY-SECRET-6"):
        run = subprocess.run([sys.executable, "-m", "console.cli", "call", url, "--say", "hi"], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path, env=env)
        out = run.stdout + run.stderr
        assert run.returncode != 0 and "cannot connect" in out, out
        for secret in ("FRAG-SECRET-77", "Tok3nSecret99", "PARAM-SECRET-5", "QUERY-SECRET-6"):
            assert secret not in out, out
