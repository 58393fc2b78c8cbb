"""One call at a time: the row the user chose stays chosen while calls come and go, and the
keys act on the call the screen shows, as a person reads it in a real terminal."""

from __future__ import annotations

import re
import time

from tests.terminal.conftest import Console
from tests.terminal.views import cursor_row, go

NUMBER = re.compile(r"\+91\d{10}")
BOARD_HEADER = re.compile(r"^\s*(Dir\s+)?Customer\s+Agent\s+State")
BOT_HEADER = re.compile(r"^\s*Caller\s+State")
SEEN = re.compile(r"([\d,]+) calls seen")
BOT_COUNTS = re.compile(r"Bot calls: (\d+) live · (\d+) finished")


PANEL = re.compile(r"(\+91\d{10}) → \+91\d{10}\s+([A-Z][A-Z ]+?)\s\s")


def panel_call(screen: str) -> tuple[str, str] | None:
    """(caller, STATE) of the call the Bot view's panel shows."""
    m = PANEL.search(screen)
    return (m.group(1), m.group(2)) if m else None


def calls_seen(screen: str) -> int:
    m = SEEN.search(screen)
    return int(m.group(1).replace(",", "")) if m else -1


def no_pop(term: Console) -> None:
    """Dismiss the incoming-call pop (the demo rings my number now and then): it covers the board."""
    if "INCOMING" in term.screen():
        term.keys("x", pause=0.3)


def chosen(term: Console, header: re.Pattern[str]) -> str:
    """The number on the row under the cursor (waits for the table to draw it)."""
    found: list[str] = []

    def ready(_: str) -> bool:
        row = cursor_row(term, header)
        found[:] = NUMBER.findall(row or "")[:1]
        return bool(found)

    term.wait_for(ready, 10, why="a cursor row with a number")
    return found[0]


def board_numbers(term: Console) -> list[str]:
    """The customer (else agent) number of each board row, top to bottom."""
    lines = term.lines()
    top = next((i for i, line in enumerate(lines) if BOARD_HEADER.search(line)), None)
    out: list[str] = []
    for line in lines[(top or 0) + 1:]:
        found = NUMBER.findall(line.split("│")[0])
        if not found:
            break
        out.append(found[0])
    return out


def settled_cursor_row(term: Console) -> str | None:
    """The cursor's row once the keys sent have all been handled (it reads the same twice);
    None if it never did (a pop or a toast over the board, rows moving under it)."""
    last = None
    for _ in range(20):
        time.sleep(0.3)
        row = cursor_row(term, BOARD_HEADER)
        found = NUMBER.findall(row or "")[:1]
        if row is not None and found == last:
            return row
        last = found
    return None


def choose_a_customer_row(term: Console) -> tuple[str, int]:
    """Put the cursor on one of the newest calls (not the last row) that shows its customer's
    number (an agent-first call shows only the agent's until the customer is dialled): older
    calls above it will end first. Its number and index."""
    numbers = board_numbers(term)
    term.keys("G", "k", pause=0.1)
    for _ in range(len(numbers)):
        row = settled_cursor_row(term)
        if row is None:  # the board moved under the cursor while it was read: from the end again
            no_pop(term)
            term.keys("G", "k", pause=0.1)
            row = settled_cursor_row(term)
        if row is None:
            raise AssertionError(f"the cursor did not settle:\n{term.screen()}")
        found = NUMBER.search(row)
        if found and "—" not in row[:found.start()]:
            rows = board_numbers(term)
            if found.group(0) in rows:
                return found.group(0), rows.index(found.group(0))
        term.keys("k", pause=0.2)
    raise AssertionError(f"no row with a customer's number:\n{term.screen()}")


def test_the_board_cursor_stays_on_the_chosen_call_while_calls_arrive(console: Console) -> None:
    """A recent call chosen; then older calls above it end (its row moves up) and new ones
    arrive below: a cursor that kept its index instead of its call would slide to another."""
    go(console, "1")
    console.wait_for(lambda s: len(board_numbers(console)) >= 6, 20, why="a busy board")
    no_pop(console)
    choice, index = choose_a_customer_row(console)
    before = calls_seen(console.screen())
    deadline = time.monotonic() + 45
    checks = 0
    while time.monotonic() < deadline:
        time.sleep(0.4)
        no_pop(console)
        rows = board_numbers(console)
        if choice not in rows:  # the chosen call itself ended: choose again
            choice, index = choose_a_customer_row(console)
            continue
        row = cursor_row(console, BOARD_HEADER)
        if row is None:  # a toast over the board this instant
            continue
        checks += 1
        assert choice in row, f"the cursor left {choice} for {row.strip()!r}:\n{console.screen()}"
        if rows.index(choice) < index and calls_seen(console.screen()) > before and checks >= 5:
            return  # calls above it ended and new ones arrived: the cursor stayed through both
    raise AssertionError(f"no call above the chosen one ended in 45 s ({checks} checks):\n{console.screen()}")


def bot_cursor(term: Console) -> str:
    """The caller on the Bot view's cursor row, once it reads the same twice."""
    last = None
    for _ in range(30):
        time.sleep(0.3)
        found = NUMBER.findall(cursor_row(term, BOT_HEADER) or "")[:1]
        if found and found == last:
            return found[0]
        last = found
    raise AssertionError(f"no settled cursor row in the bot list:\n{term.screen()}")


def agree(term: Console) -> tuple[str, str]:
    """The cursor and the panel are on the same call: (caller, STATE)."""
    caller = bot_cursor(term)
    shown = panel_call(term.screen())
    assert shown is not None and shown[0] == caller, f"cursor on {caller}, panel on {shown}:\n{term.screen()}"
    return shown


def test_h_on_the_bot_view_acts_on_the_call_shown(console: Console) -> None:
    go(console, "5")
    # A live call chosen while another is live too: h asks about exactly that call, and once
    # it is hung up the view follows the other one, cursor and panel together.
    console.wait_for(lambda s: (m := BOT_COUNTS.search(s)) is not None and int(m.group(1)) >= 2, 45,
                     why="two live bot calls")
    console.keys("g", pause=0.3)
    live, state = agree(console)
    assert state != "ENDED", console.screen()
    console.keys("h")
    dialog = console.wait_for("Hang up on", 10, why="the hang-up question")
    asked = re.search(r"Hang up on (\S+)\?", dialog)
    assert asked and asked.group(1) == live, dialog
    console.keys("BTab", "Enter")  # from Cancel (the default) to "Hang up"
    # The demo's bot calls end by themselves: one that ended (or began its goodbye) while the
    # question was open is refused in the dialog, which the user then closes.
    refused = ("no active call", "already ending")
    outcome = console.wait_for(lambda s: "Hang up on" not in s or any(r in s for r in refused), 10,
                               why="the hang-up done")
    if "Hang up on" in outcome:
        console.keys("Escape")
        console.wait_gone("Hang up on", 10)
    # It ended: the panel stays on it or follows the next live call, and the cursor goes along.
    console.wait_for(lambda s: (p := panel_call(s)) is not None and (p[0] != live or p[1] == "ENDED"), 15,
                     why="the hung-up call ended")
    caller, state = agree(console)
    console.keys("h", pause=1.0)
    screen = console.screen()
    if state == "ENDED":
        assert "Hang up on" not in screen, f"h offered to hang up while an ended call was shown:\n{screen}"
    else:
        asked = re.search(r"Hang up on (\S+)\?", screen)
        assert asked and asked.group(1) == caller, screen
        console.keys("Escape")
        console.wait_gone("Hang up on", 10)
    # An ended call chosen by the user (the cursor moved onto it: with no move, the view
    # still follows the next live call): it stays chosen while calls start and end, and h
    # does nothing.
    console.wait_for(lambda s: (m := BOT_COUNTS.search(s)) is not None and int(m.group(2)) >= 2, 30,
                     why="two finished bot calls")
    console.keys("g", pause=0.3)
    console.keys("G", pause=0.3)
    ended, state = agree(console)
    assert state == "ENDED", console.screen()
    first = BOT_COUNTS.search(console.screen())
    assert first
    console.wait_for(lambda s: (m := BOT_COUNTS.search(s)) is not None and m.group(0) != first.group(0), 30,
                     why="bot calls starting or ending")
    assert agree(console) == (ended, "ENDED")
    console.keys("h", pause=1.0)
    screen = console.screen()
    assert "Hang up on" not in screen, f"h offered to hang up while an ended call was shown:\n{screen}"
    console.keys("g")  # back to the newest call, so the view follows live calls again for the tests after this
