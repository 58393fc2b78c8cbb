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


def status_dropdown(term: Console) -> tuple[int, int]:
    """Where the Call log form's status dropdown is drawn (its ▼)."""
    for y, line in enumerate(term.lines()):
        label = line.find(" status ")
        if label >= 0 and "▼" in line[label:]:
            return line.index("▼", label), y
    raise AssertionError(f"no status dropdown:\n{term.screen()}")


def test_digits_typed_on_an_open_dropdown_stay_in_it(console: Console) -> None:
    go(console, "4")
    console.wait_for("calls loaded", 15)
    console.click(*status_dropdown(console))
    console.wait_for(lambda s: "Connected" in s and "Voicemail" in s, 10, why="the open status dropdown")
    console.type("2")
    console.type("5")
    time.sleep(0.8)
    screen = console.screen()
    assert "4 Call log" in screen.splitlines()[0], f"a digit on the dropdown switched views:\n{screen}"
    assert "Voicemail" in screen, f"the dropdown closed:\n{screen}"
    console.keys("Down", "Down", "Enter")  # it still has the keys: any -> Connected -> Missed
    # Closed again, the dropdown keeps the focus: a digit now is still not a view key.
    console.wait_gone("Voicemail", 10)
    console.type("2")
    time.sleep(0.8)
    screen = console.screen()
    assert "4 Call log" in screen.splitlines()[0], f"a digit on the focused dropdown switched views:\n{screen}"
    console.wait_for(lambda s: any(" status " in line and "Missed" in line for line in s.splitlines()), 10,
                     why="Missed chosen in the dropdown")
    console.click(*status_dropdown(console))  # back to "any" for the tests after this one
    console.wait_for("Voicemail", 10)
    console.keys("Up", "Up", "Enter")
    console.wait_for(lambda s: any(" status " in line and "any" in line for line in s.splitlines()), 10)
    console.keys("Escape")
