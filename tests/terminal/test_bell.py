"""The terminal bell for a call that rings me: a BEL byte reaches the terminal when the
setting is on, and none while it is off (read from the pane's raw output, not a mock)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.terminal.conftest import Console
from tests.terminal.views import go

# OSC sequences (title, clipboard, colours) end with BEL too; only a bare BEL is the bell.
OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def bells(raw: bytes) -> int:
    return OSC.sub(b"", raw).count(b"\x07")


def ring_and_capture(term: Console, out: Path, customer: str) -> bytes:
    """Ring my number from `customer`, wait for its pop, and return what the console wrote meanwhile."""
    term.pipe_output(out)
    try:
        term.ring_me(customer)
        term.wait_for(lambda s: any("INCOMING" in line and customer in line for line in s.splitlines()), 40,
                      why="the screen pop for that caller")
        time.sleep(0.5)
    finally:
        term.pipe_output(None)
    term.keys("x")  # dismiss the pop
    return out.read_bytes()


def toggle_bell(term: Console, expect: str) -> None:
    term.keys("C-p")
    term.wait_for("Bell for my calls", 10, why="the command palette")
    term.type("Bell for my calls")
    term.keys("Enter")
    term.wait_for(expect, 10, why=f"the bell setting saying {expect!r}")


def test_a_call_for_me_rings_the_terminal_bell_only_when_the_setting_is_on(console: Console, tmp_path: Path) -> None:
    go(console, "1")
    on = ring_and_capture(console, tmp_path / "on.raw", "+919811100011")
    assert bells(on) >= 1, f"no BEL in {len(on)} bytes of output while a call rang me"
    toggle_bell(console, "no bell for my calls")
    try:
        off = ring_and_capture(console, tmp_path / "off.raw", "+919811100022")
        assert len(off) > 0 and bells(off) == 0, f"{bells(off)} BEL with the bell switched off"
    finally:
        toggle_bell(console, "a bell rings when a call comes to me")
