"""Connection state that explains: refused keys, a refused or absent bot monitor feed."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.terminal.conftest import REPO, Console, console_env, free_port
from tests.terminal.tmux import TmuxTerminal
from tests.terminal.views import go


def test_refused_keys_and_an_unreachable_bot_are_explained(console: Console, tmp_path: Path) -> None:
    if console.width != 80:
        return  # one size is enough: the text is the same at every size, and 80 columns is the tightest
    term = TmuxTerminal(tmp_path, width=120, height=35)
    config = tmp_path / "config"
    config.mkdir()
    bot = f"ws://127.0.0.1:{free_port()}/monitor"
    term.start([sys.executable, "-m", "console", "--sandbox", console.sandbox_url, "--sr-key", "wrong-key",
                "--api-key", "wrong-too", "--bot", bot], env=console_env(config), cwd=REPO)
    try:
        screen = term.wait_for("refused the SR API key", 30, why="why the live stream fails")
        assert "retrying" not in screen.split("\n")[1], screen  # it says it gave up, not "retrying" forever
        go(term, "5")  # type: ignore[arg-type]
        term.wait_for(lambda s: "monitor feed" in s, 30, why="why no bot calls can show")
        assert "Calls appear here as soon as" not in term.screen()
    finally:
        term.close()
