"""Text a user should never see: raw codes, glued words, cut-off words, agent ids."""

from __future__ import annotations

import re

from tests.terminal.conftest import Console
from tests.terminal.views import go


def test_account_names_number_and_plan_types(console: Console) -> None:
    screen = go(console, "7")
    console.wait_for(lambda s: "+9180" in s, 15, why="the bought numbers")
    screen = console.screen()
    rows = [line for line in screen.splitlines() if re.match(r"\s*\+9180\d+\s", line)]
    assert rows, screen
    for line in rows:
        assert not re.match(r"\s*\+\d+\s+1\s", line), f"a raw number type code:\n{line}"
    if console.height >= 35:
        plans = [line for line in screen.splitlines() if re.match(r"\s*4078\d\d\s", line)]
        assert plans and not any(re.search(r"\s[EPD]\s{2,}", line) for line in plans), "\n".join(plans)


def test_tasks_show_agents_by_name(console: Console) -> None:
    screen = go(console, "3")
    if console.width < 100:
        return  # the Agent column gives way first at 80 columns
    console.wait_for(lambda s: "anyone" in s, 10)
    screen = console.screen()
    assert not re.search(r"\s7\d{5}\s+\d{7}\s*$", screen, re.M), f"an agent id instead of a name:\n{screen}"


def test_no_word_is_cut_in_the_live_board(console: Console) -> None:
    screen = go(console, "1")
    assert "Agent Misse " not in screen and "Customer Mis " not in screen, screen


def test_transfer_dialog_speaks_plainly(console: Console) -> None:
    go(console, "5")
    console.wait_for(lambda s: " t transfer" in s.splitlines()[-1], 30, why="a live bot call")
    console.keys("t")
    screen = console.wait_for("Transfer", 10)
    assert "TRANSFER_NUMBER" not in screen
    console.keys("Escape")
