"""`kconsole sandbox`: starts, prints what a user needs, serves, stops cleanly on Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import io
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sandbox.cli import add_arguments, serve

ROOT = Path(__file__).resolve().parents[2]


def start(cmd: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    # Ctrl-C as a terminal delivers it: a suite run as a background job (`.ci/run &`) inherits
    # SIGINT ignored from the shell, and the sandbox would then rightly never see it.
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C"):
            return proc, lines
    proc.kill()
    raise AssertionError(f"no banner; stdout={lines} stderr={proc.stderr.read() if proc.stderr else ''}")


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        raise AssertionError(f"still running 15 s after signal {sig}; its stderr:\n{(err or '')[-3000:]}") from None
    return proc.returncode, err


def test_kconsole_sandbox_prints_urls_and_keys_serves_and_stops_on_ctrl_c() -> None:
    proc, lines = start([sys.executable, "-m", "console", "sandbox", "--port", "0", "--sr-key", "my-sr",
                         "--api-key", "my-app", "--speed", "50", "--seed", "3"])
    try:
        text = "\n".join(lines)
        base = re.search(r"REST base URL\s+(http://127\.0\.0\.1:\d+)", text)
        assert base, text
        base_url = base.group(1)
        assert f"Live stream    {base_url}/update-stream/my-sr/konnect" in text
        assert "Authorization: my-sr" in text and "x-api-key: my-app" in text
        assert "voice bot +918047100300" in text and "curl -s -H 'Authorization: my-sr'" in text
        r = httpx.get(f"{base_url}/Basic/v1/account/agent", headers={"Authorization": "my-sr", "x-api-key": "my-app"})
        assert r.status_code == 200 and len(r.json()) == 12
    finally:
        code, err = stop(proc, signal.SIGINT)
    assert code == 0 and "Traceback" not in err, err


def test_sigterm_stops_it_too() -> None:
    code = ("import argparse, sys; from sandbox.cli import add_arguments, main; p = argparse.ArgumentParser(); "
            "add_arguments(p); sys.exit(main(p.parse_args(sys.argv[1:])))")
    proc, _ = start([sys.executable, "-c", code, "--port", "0", "--traffic", "600", "--speed", "100"])
    code_, err = stop(proc, signal.SIGTERM)
    assert code_ == 0 and "Traceback" not in err, err


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_arguments_are_validated() -> None:
    assert parse().port == 8100 and parse().traffic == 0 and parse().speed == 1
    for bad in (["--speed", "0"], ["--traffic", "-1"], ["--port", "70000"]):
        with pytest.raises(SystemExit):
            parse(*bad)


async def test_port_in_use_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = await serve(parse("--port", str(port)), out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err


async def test_bad_key_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = await serve(parse("--port", "0", "--sr-key", "a/b"), out=io.StringIO())
    assert code == 2 and "sr_api_key" in capsys.readouterr().err
