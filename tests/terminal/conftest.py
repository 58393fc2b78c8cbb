"""The console in a real terminal: `kconsole demo` (sandbox + loopback bot) inside tmux.

One console per terminal size for the whole session (started once, walked through by
every test at that size), so the suite costs a few seconds of start-up per size rather
than one per assertion. The console runs with its own config directory (XDG_CONFIG_HOME
in a temporary folder) and TZ=UTC, so the local zone differs from IST as it does for
many users. Its sandbox listens on a known loopback port, so a test can ring "my"
agent number (`Console.ring_me`) the way a customer would.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.terminal.tmux import TMUX, TmuxTerminal

SIZES = ((160, 45), (120, 35), (80, 24))
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def console_env(config_home: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH")}
    keep.setdefault("LANG", "C.UTF-8")
    return {**keep, "TERM": "xterm-256color", "COLORTERM": "truecolor", "TZ": "UTC",
            "XDG_CONFIG_HOME": str(config_home), "TEXTUAL_ANIMATIONS": "none", **extra}


class Console(TmuxTerminal):
    """A console in tmux, plus the few things a test does to the world around it."""

    sandbox_url = ""
    config_home = Path()

    def sandbox(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.sandbox_url}{path}", timeout=5, **kwargs)
        response.raise_for_status()
        return response.json()

    def my_number(self) -> str:
        return str(self.sandbox("GET", "/_sandbox/info")["default_agent"])

    def ring_me(self, customer: str = "+919812345678") -> str:
        """A customer calls the main number and it rings my agent number (the screen pop)."""
        body = {"customer_number": customer, "agent_number": self.my_number()}
        return str(self.sandbox("POST", "/_sandbox/inbound-call", json=body)["uuid"])


def start_console(workdir: Path, width: int, height: int, *extra: str, env: dict[str, str] | None = None,
                  ready: str = "events") -> Console:
    term = Console(workdir, width=width, height=height)
    config = workdir / "config"
    config.mkdir(exist_ok=True)
    port = free_port()
    term.sandbox_url = f"http://127.0.0.1:{port}"
    term.config_home = config
    term.start([sys.executable, "-m", "console", "demo", "--bot-every", "15", "--sandbox-port", str(port), *extra],
               env=console_env(config, **(env or {})), cwd=REPO)
    try:
        term.wait_for(ready, 40, why="the console's first view")
    except BaseException:
        term.close()
        raise
    return term


@pytest.fixture(scope="session", params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    if TMUX is None:
        pytest.skip("tmux is not installed (CI installs it: apt-get install tmux)")
    width, height = request.param
    term = start_console(tmp_path_factory.mktemp(f"tmux{width}x{height}"), width, height)
    yield term
    term.close()


@pytest.fixture(autouse=True)
def _back_to_a_view(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts on a view with no dialog open, whatever the one before left."""
    yield
    if "console" in request.fixturenames:
        term: Console = request.getfixturevalue("console")
        if term.alive():
            term.keys("Escape", "Escape", pause=0.2)
