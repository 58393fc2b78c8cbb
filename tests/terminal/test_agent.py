"""What an agent relies on: one time zone, newest tasks first, closing a task, and
preferences that survive a restart."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path

from tests.terminal.conftest import Console, start_console
from tests.terminal.views import clock, go

STAMP = re.compile(r"\b(20\d\d-\d\d-\d\d \d\d:\d\d)\b")


def test_every_time_is_in_one_zone_with_its_label_and_none_in_the_future(console: Console) -> None:
    screen = go(console, "4")
    screen = console.wait_for("calls loaded", 15)
    now = clock(screen)
    assert now is not None and "UTC" in screen.splitlines()[0]
    if console.width >= 100:
        assert "(UTC)" in screen  # the column says which zone its times are in
    today = datetime.utcnow()
    latest = max(datetime.strptime(s, "%Y-%m-%d %H:%M") for s in STAMP.findall(screen))
    assert latest <= today + timedelta(minutes=2), f"a call in the future ({latest} > now {today}):\n{screen}"


def test_tasks_newest_first_and_d_closes_one(console: Console) -> None:
    screen = go(console, "3")
    rows = [line for line in screen.splitlines() if line.strip().startswith("open ")]
    stamps = [datetime.strptime(m, "%Y-%m-%d %H:%M") for line in rows if "missedcall" in line for m in STAMP.findall(line)[-1:]]
    assert len(stamps) >= 3, screen
    assert stamps == sorted(stamps, reverse=True), f"tasks are not newest first:\n{screen}"
    console.keys("g")
    first = next(line for line in console.lines() if line.strip().startswith("open "))
    phone = re.search(r"\+\d{8,13}", first)
    assert phone, first
    console.keys("d")
    console.wait_for(lambda s: any("✓ done" in line and phone.group(0) in line for line in s.splitlines()), 10,
                     why="the task shown as done")


def test_preferences_survive_a_restart(tmp_path: Path) -> None:
    term = start_console(tmp_path, 80, 24)
    try:
        term.keys("m")  # the demo knows my number: show only my calls
        term.wait_for(lambda s: " me +91" in s.splitlines()[0], 10, why="my calls")
        term.keys("C-p", pause=0.5)
        term.type("Time zone")
        term.wait_for("show times in IST", 10)
        term.keys("Enter")
        term.wait_for(lambda s: " IST" in s.splitlines()[0], 10, why="times in IST")
        term.keys("q")
        term.wait_for("in progress?", 10)
        term.keys("BTab", "Enter")  # from Cancel to Quit
        deadline = time.monotonic() + 20
        while term.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not term.alive(), term.screen()
    finally:
        term.close()
    saved = (tmp_path / "config" / "kconsole" / "preferences.toml").read_text()
    assert 'time_zone = "IST"' in saved and "mine_only = true" in saved
    again = start_console(tmp_path, 80, 24, ready="IST")
    try:
        first = again.lines()[0]
        assert " me +91" in first and "IST" in first and "UTC" not in first, first
    finally:
        again.close()
