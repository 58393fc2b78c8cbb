"""Focus traps: what is typed goes where the user sees it going."""

from __future__ import annotations

import time

from tests.terminal.conftest import Console
from tests.terminal.views import go


def test_what_is_typed_in_the_filter_is_shown(console: Console) -> None:
    go(console, "2")
    console.keys("/")
    console.wait_for("filter /", 10, why="the filter bar")  # a person types once they see it
    console.type("Priya")
    console.wait_for(lambda s: any("filter /" in line and "Priya" in line for line in s.splitlines()), 10,
                     why="the typed filter text")
    console.keys("Escape", pause=0.5)
    console.wait_gone("filter /", 10)


def test_call_log_keys_reach_the_results_after_a_search(console: Console) -> None:
    go(console, "4")
    console.wait_for("calls loaded", 15)
    console.keys("s")          # into the search form (the customer field)
    console.type("+91")
    console.keys("Enter")      # search
    console.wait_for("calls loaded", 15)
    time.sleep(0.5)
    console.keys("j", "G")     # move in the results ...
    time.sleep(0.5)
    screen = console.screen()
    assert "+91jG" not in screen and "+91j" not in screen, f"the keys went into the form:\n{screen}"
