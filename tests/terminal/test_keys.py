"""Every key the footer or a dialog advertises does what it says; destructive ones ask first."""

from __future__ import annotations

import re
import time

from tests.terminal.conftest import Console
from tests.terminal.views import go, showing

NUMBER = re.compile(r"\+91\d{10}")


def dialog_closed(term: Console, title: str) -> None:
    term.wait_gone(title, 10)


def test_esc_on_a_view_never_changes_the_view(console: Console) -> None:
    for key in ("1", "4", "2"):
        go(console, "3" if key != "3" else "2")
        go(console, key)
        console.keys("Escape", pause=0.8)
        assert showing(console.screen(), key), console.screen()


def test_quit_with_live_calls_asks_and_the_safe_button_is_the_default(console: Console) -> None:
    go(console, "1")
    console.wait_for(lambda s: (m := re.search(r"Calls in progress: (\d+)", s)) is not None and int(m.group(1)) > 0,
                     20, why="a call in progress")
    console.keys("q")
    console.wait_for("in progress?", 10, why="the quit question")
    console.keys("Enter")  # the default button: Cancel
    dialog_closed(console, "in progress?")
    assert console.alive()
    go(console, "1")


def test_stopping_a_campaign_defaults_to_cancel(console: Console) -> None:
    go(console, "6")
    console.wait_for("In Progress", 10)
    for _ in range(8):  # down to a campaign that can still be stopped
        if " x stop" in console.lines()[-1]:
            break
        console.keys("j", pause=0.3)
    console.keys("x")
    screen = console.wait_for("Stop campaign", 10)
    order = re.search(r"Stop campaign (\S+)\?", screen)
    assert order, screen
    console.keys("Enter")
    dialog_closed(console, "Stop campaign")
    time.sleep(0.5)
    assert "stop" not in console.screen().lower().split("campaigns:")[-1].split("\n")[0]


def test_disabling_notifications_asks_first(console: Console) -> None:
    go(console, "7")
    console.wait_for("Live-notification registrations", 10)
    console.keys("d")
    console.wait_for("Disable live notifications for", 10, why="a question before disabling")
    console.keys("Enter")  # Cancel is the default
    dialog_closed(console, "Disable live notifications for")
    screen = console.screen()
    assert "disabled" not in screen.split("Live-notification registrations")[-1], screen


def open_dialog_with_a_customer(term: Console, title: str) -> str:
    """enter on the rows in turn until a dialog about a customer opens (some calls have none yet)."""
    for _ in range(6):
        term.keys("Enter")
        screen = term.wait_for(lambda s: title in s and "esc close" in s, 8, why=f"the {title.strip()} dialog")
        if "call this customer" in screen:
            return screen
        term.keys("Escape", "j", pause=0.3)
    raise AssertionError(f"no row with a customer:\n{term.screen()}")


def test_c_in_every_detail_dialog_calls_that_customer(console: Console) -> None:
    for key, title in (("3", "Task "), ("4", "Call "), ("1", "Call ")):
        go(console, key)
        if key == "4":
            console.wait_for("calls loaded", 10)
        screen = open_dialog_with_a_customer(console, title)
        console.keys("c")
        dial = console.wait_for(lambda s: "Customer" in s and ("Place" in s or "Dial" in s or "Call" in s), 10,
                                why="the dial dialog")
        numbers = set(NUMBER.findall(screen))
        assert numbers & set(NUMBER.findall(dial)), dial
        console.keys("Escape", "Escape", "Escape", pause=0.3)


def test_r_on_a_call_without_a_recording_says_why(console: Console) -> None:
    go(console, "1")
    screen = open_dialog_with_a_customer(console, "Call ")
    if "recording  " in screen:  # this call already has one: nothing to explain
        console.keys("Escape")
        return
    console.keys("r")
    console.wait_for("no recording", 10, why="the reason there is no recording")
    console.keys("Escape")


def test_the_pop_acts_on_its_own_call(console: Console) -> None:
    go(console, "1")
    console.ring_me("+919811122233")
    console.wait_for(lambda s: any("INCOMING" in line and "+919811122233" in line for line in s.splitlines()),
                     40, why="the screen pop for that caller")
    console.keys("Enter")
    dialog = console.wait_for("call this customer", 10)
    assert "+919811122233" in dialog.split("call this customer")[0], dialog
    console.keys("Escape")
    console.keys("x")  # dismiss the pop
    console.wait_gone("INCOMING", 10)
