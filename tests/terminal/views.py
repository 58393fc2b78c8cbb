"""What each view shows when it is on screen, as a person would recognise it."""

from __future__ import annotations

import re
import time

from tests.terminal.tmux import TmuxTerminal

# view key -> (name, a line only that view shows)
VIEWS: dict[str, tuple[str, re.Pattern[str]]] = {
    "1": ("Live", re.compile(r"Calls in progress: \d+")),
    "2": ("Agents", re.compile(r"Agents: \d+ shown")),
    "3": ("Tasks", re.compile(r"Tasks: \d+ shown")),
    "4": ("Call log", re.compile(r"calls loaded|no calls match|searching")),
    "5": ("Bot", re.compile(r"Bot calls: \d+ live")),
    "6": ("Campaigns", re.compile(r"Campaigns and orders: \d+")),
    "7": ("Account", re.compile(r"n register number")),
    "8": ("Numbers", re.compile(r"outgoing caller id|Available numbers")),
    "9": ("Library", re.compile(r"Phonebooks: \d+")),
}
CLOCK = re.compile(r"\b(\d\d:\d\d:\d\d) UTC\b")


def top_bar(term: TmuxTerminal) -> str:
    return term.lines()[0] if term.lines() else ""


def clock(screen: str) -> str | None:
    first = screen.splitlines()[0] if screen else ""
    m = CLOCK.search(first)
    return m.group(1) if m else None


def go(term: TmuxTerminal, key: str, timeout: float = 15.0) -> str:
    """Press a view key and wait until that view (and no other) is what the terminal shows."""
    name, marker = VIEWS[key]
    others = [m for k, (_, m) in VIEWS.items() if k != key]
    term.keys(key, pause=0.05)
    return term.wait_for(lambda s: bool(marker.search(s)) and not any(o.search(s) for o in others),
                         timeout, why=f"the {name} view")


def assert_live(term: TmuxTerminal, timeout: float = 3.0) -> None:
    """The screen keeps painting: the top bar's clock moves on within a couple of seconds."""
    first = clock(term.screen())
    assert first is not None, f"no clock in the top bar:\n{term.screen()}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if clock(term.screen()) != first:
            return
    raise AssertionError(f"the screen stopped painting (clock stuck at {first}):\n{term.screen()}")


def showing(screen: str, key: str) -> bool:
    """The screen shows view `key` and no other."""
    marker = VIEWS[key][1]
    return bool(marker.search(screen)) and not any(m.search(screen) for k, (_, m) in VIEWS.items() if k != key)
