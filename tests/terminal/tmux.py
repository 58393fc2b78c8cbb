"""Drive a program in a real terminal: a private tmux server, keys typed, the screen read back.

Each `TmuxTerminal` runs its own tmux server on a socket in a temporary directory (no
user configuration, no clash with anyone's sessions), starts one command in a window of
a fixed size, and offers what a person does at a terminal: type keys, click, look.
`screen()` is what tmux shows at that moment (`capture-pane`), so a frozen or
half-painted screen is seen exactly as a user would see it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

TMUX = shutil.which("tmux")
ESCAPE_GAP = 0.6  # seconds; well above Textual's ESCDELAY (100 ms) to survive a starved input thread


class ScreenTimeout(AssertionError):
    """What was waited for did not appear; the message holds the last screen."""


class TmuxTerminal:
    def __init__(self, workdir: Path, *, width: int, height: int) -> None:
        if TMUX is None:
            raise RuntimeError("tmux is not installed")
        self.width, self.height = width, height
        self.socket = workdir / "tmux.sock"
        self.target = "console:0.0"
        self.started = False

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run([TMUX, "-S", str(self.socket), "-f", os.devnull, *args],
                              capture_output=True, text=True, check=check, timeout=10)

    def start(self, command: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> None:
        """Start `command` in a WIDTHxHEIGHT window with exactly `env` (no COLUMNS or LINES
        leaking in from the test runner: Textual would believe them over the terminal)."""
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        line = f"cd {_quote(str(cwd))} && exec env -i {exports} {' '.join(_quote(c) for c in command)}"
        self._tmux("new-session", "-d", "-s", "console", "-x", str(self.width), "-y", str(self.height),
                   "sh", "-c", line)
        self.started = True
        for option in (("escape-time", "0"), ("remain-on-exit", "on"), ("status", "off")):
            self._tmux("set-option", "-g", *option, check=False)
        self._tmux("set-option", "-t", "console", "status", "off", check=False)
        self._tmux("resize-window", "-t", "console", "-x", str(self.width), "-y", str(self.height), check=False)

    def pipe_output(self, path: Path | None) -> None:
        """Copy everything the program writes to the terminal from now on into `path`
        (None stops copying): escape sequences and control characters as they are sent."""
        if path is None:
            self._tmux("pipe-pane", "-t", self.target, check=False)
        else:
            self._tmux("pipe-pane", "-t", self.target, f"cat >> {_quote(str(path))}")

    def close(self) -> None:
        if self.started:
            self._tmux("kill-server", check=False)
            self.started = False

    # ---- looking --------------------------------------------------------------------------

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.target).stdout

    def lines(self) -> list[str]:
        return self.screen().splitlines()

    def styled_lines(self) -> list[str]:
        """The screen's lines with their SGR colour codes (`capture-pane -e`)."""
        return self._tmux("capture-pane", "-p", "-e", "-t", self.target).stdout.splitlines()

    def alive(self) -> bool:
        out = self._tmux("display-message", "-p", "-t", self.target, "#{pane_dead}", check=False).stdout
        return out.strip() == "0"

    def wait_for(self, what: str | Callable[[str], bool], timeout: float = 10.0, *, why: str = "") -> str:
        """Poll the screen until `what` (a text, or a test of the screen) holds; return it."""
        test = (lambda s: what in s) if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if test(text):
                return text
            if time.monotonic() > deadline:
                label = why or (repr(what) if isinstance(what, str) else "condition")
                raise ScreenTimeout(f"{label} not on screen after {timeout:.0f} s:\n{text}")
            time.sleep(0.1)

    def wait_gone(self, text: str, timeout: float = 10.0) -> str:
        return self.wait_for(lambda s: text not in s, timeout, why=f"{text!r} to go away")

    # ---- typing ---------------------------------------------------------------------------

    def keys(self, *keys: str, pause: float = 0.15) -> None:
        """Press keys by tmux name ("Escape", "Enter", "Tab", "C-p", "j") one after another.

        An Escape is followed by at least ESCAPE_GAP: a key that reaches the app's input thread
        together with it is read as one Alt sequence ("\x1b8" is "bullet", not "8"), and on a
        loaded machine that thread can be late by more than a short pause."""
        for key in keys:
            self._tmux("send-keys", "-t", self.target, key)
            time.sleep(max(pause, ESCAPE_GAP) if key == "Escape" else pause)

    def type(self, text: str, pause: float = 0.15) -> None:
        """Type literal text as a person would (one burst)."""
        self._tmux("send-keys", "-t", self.target, "-l", text)
        time.sleep(pause)

    def click(self, x: int, y: int, pause: float = 0.2) -> None:
        """A left click at column x, row y (0-based), as the terminal reports it (SGR mouse)."""
        press = f"\x1b[<0;{x + 1};{y + 1}M"
        release = f"\x1b[<0;{x + 1};{y + 1}m"
        self._tmux("send-keys", "-t", self.target, "-l", press)
        time.sleep(0.05)
        self._tmux("send-keys", "-t", self.target, "-l", release)
        time.sleep(pause)

    def find(self, text: str) -> tuple[int, int] | None:
        """(x, y) of the first place `text` is shown."""
        for y, line in enumerate(self.lines()):
            x = line.find(text)
            if x >= 0:
                return x, y
        return None


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"
