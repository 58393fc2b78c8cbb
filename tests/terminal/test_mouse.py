"""The mouse in a real terminal: a click on a view's tab goes there; a click on a header sorts."""

from __future__ import annotations

import re

from tests.terminal.conftest import Console
from tests.terminal.views import VIEWS, go, showing


def tab_x(term: Console, key: str) -> int:
    """The column of view `key`'s tab in the top bar, as drawn (" 4 Call log " or " 4")."""
    bar = term.lines()[0]
    match = re.search(rf"(?<!\S) ?{key}(?= |$)", bar)
    assert match, f"no tab {key} in the top bar: {bar!r}"
    return match.end() - 1


def test_a_click_on_a_tab_switches_to_that_view(console: Console) -> None:
    go(console, "1")
    for key in ("4", "2", "9", "5", "1"):
        console.click(tab_x(console, key), 0)
        console.wait_for(lambda s, key=key: showing(s, key), 15, why=f"the {VIEWS[key][0]} view after a click")


def test_a_click_on_a_header_sorts_by_it(console: Console) -> None:
    go(console, "4")
    console.wait_for("calls loaded", 15)
    at = console.find("Customer")
    assert at is not None, console.screen()
    console.click(at[0] + 2, at[1])
    screen = console.wait_for("Customer ▲", 10, why="the sorted header")
    rows = [line for line in screen.splitlines()[at[1] + 1:] if re.search(r"\+91\d{10}", line)]
    numbers = [re.findall(r"\+91\d{10}", line)[0] for line in rows]
    assert numbers == sorted(numbers) and len(numbers) > 3, screen
    console.type("<")
    screen = console.wait_for("Customer ▼", 10, why="the reversed sort (<)")
    console.type(">")  # the next column
    console.wait_gone("Customer ▼", 10)
