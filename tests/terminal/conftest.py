"""The console in a real terminal: `kconsole demo` (sandbox + loopback bot) inside tmux.

One console per terminal size for the whole module (started once, walked through by
every test at that size), so the suite costs a few seconds of start-up per size rather
than one per assertion. The console runs with its own config directory (XDG_CONFIG_HOME
in a temporary folder) and TZ=UTC, so the local zone differs from IST as it does for
many users.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.terminal.tmux import TMUX, TmuxTerminal

SIZES = ((160, 45), (120, 35), (80, 24))
REPO = Path(__file__).resolve().parents[2]


def console_env(config_home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH")}
    keep.setdefault("LANG", "C.UTF-8")
    return {**keep, "TERM": "xterm-256color", "COLORTERM": "truecolor", "TZ": "UTC",
            "XDG_CONFIG_HOME": str(config_home), "TEXTUAL_ANIMATIONS": "none"}


def start_console(workdir: Path, width: int, height: int, *extra: str) -> TmuxTerminal:
    term = TmuxTerminal(workdir, width=width, height=height)
    config = workdir / "config"
    config.mkdir(exist_ok=True)
    term.start([sys.executable, "-m", "console", "demo", "--bot-every", "15", *extra],
               env=console_env(config), cwd=REPO)
    term.config_home = config  # type: ignore[attr-defined]
    try:
        term.wait_for("events", 40, why="the console's live board")
    except BaseException:
        term.close()
        raise
    return term


@pytest.fixture(scope="module", params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TmuxTerminal]:
    if TMUX is None:
        pytest.skip("tmux is not installed (CI installs it: apt-get install tmux)")
    width, height = request.param
    term = start_console(tmp_path_factory.mktemp(f"tmux{width}x{height}"), width, height)
    yield term
    term.close()
