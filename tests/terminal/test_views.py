"""Every view reachable, painted and live after every other view, at every size."""

from __future__ import annotations

import itertools
import re

from tests.terminal.conftest import Console as TmuxTerminal
from tests.terminal.views import VIEWS, assert_live, go

EVENTS = re.compile(r"([\d,]+) events")


def every_transition(keys: list[str]) -> list[str]:
    """A walk that goes from every view to every other view exactly once (an Euler circuit
    of the complete directed graph): n(n-1)+1 presses instead of 2n(n-1) in pairs."""
    unused = {a: [b for b in keys if b != a] for a in keys}
    stack, walk = [keys[0]], []
    while stack:
        here = stack[-1]
        if unused[here]:
            stack.append(unused[here].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


def test_the_walk_covers_every_ordered_pair() -> None:
    keys = list(VIEWS)
    walk = every_transition(keys)
    pairs = set(itertools.pairwise(walk))
    assert len(walk) == len(keys) * (len(keys) - 1) + 1 and pairs == {(a, b) for a in keys for b in keys if a != b}


def test_each_view_paints_and_stays_live_the_first_time(console: TmuxTerminal) -> None:
    # The first visit is the one that froze (the Call log's first layout never happened).
    for key in ("4", *(k for k in VIEWS if k != "4"), "1"):
        go(console, key)
        assert_live(console)


def test_every_view_after_every_other_and_the_board_keeps_changing(console: TmuxTerminal) -> None:
    # Every transition at the two smaller sizes (where layouts are tightest); at 160x45 a
    # tour through every view twice keeps the suite's run time in bounds.
    keys = list(VIEWS)
    walk = every_transition(keys) if console.width < 160 else keys + keys[::-1]
    counts: list[int] = []
    for key in walk:
        screen = go(console, key)
        if key == "1":
            m = EVENTS.search(screen)
            assert m, screen
            counts.append(int(m.group(1).replace(",", "")))
    assert_live(console)
    screen = go(console, "1")
    console.wait_for(lambda s: (m := EVENTS.search(s)) is not None and int(m.group(1).replace(",", "")) > counts[0],
                     15, why="new live events on the board")


def test_numbers_library_and_campaign_forms_in_a_real_terminal(console: TmuxTerminal) -> None:
    """The outbound side as a supervisor meets it: a circle's numbers, buying one (asked
    once, then sent), a sound added by URL, the campaign and order forms opened and left."""
    go(console, "8")
    console.wait_for(re.compile(r"Circles of India: [1-9]").search, 10, why="the circles")
    bought = int(re.search(r"Numbers bought: (\d+)", console.wait_for("Numbers bought:", 10)).group(1))  # type: ignore[union-attr]
    console.keys("Enter")
    console.wait_for(re.compile(r"Available numbers in .+: [1-9]").search, 10, why="a circle's numbers")
    console.keys("b")
    console.wait_for("Buy +", 10, why="the buy form")
    console.keys("C-s")
    console.wait_for("press again to buy", 10)
    console.keys("C-s")
    console.wait_for(f"Numbers bought: {bought + 1}", 15, why="the bought number listed")
    go(console, "9")
    screen = console.wait_for(lambda s: "rejected" in s and "under approval" in s, 10, why="the sounds' states")
    sounds = int(re.search(r"Sounds: (\d+)", screen).group(1))  # type: ignore[union-attr]
    console.keys("a")
    console.wait_for("Add a sound", 10)
    console.type("https://cdn.example.com/welcome.wav")
    console.keys("C-s")
    console.wait_for(f"Sounds: {sounds + 1}", 15, why="the new sound")
    console.wait_for("welcome.wav", 10, why="the new sound's row")
    go(console, "6")
    for key, title in (("n", "New campaign"), ("O", "New call-center order"), ("f", "Filter campaigns")):
        console.keys(key)
        console.wait_for(title, 10)
        console.wait_for(lambda s: "Cancel" in s, 5, why="the form's buttons")
        console.keys("Escape")
        console.wait_gone(title, 10)
    assert_live(console)
