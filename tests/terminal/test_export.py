"""The Call log's CSV export as a person uses it: the key in the footer, a file name, the count."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from tests.terminal.conftest import Console
from tests.terminal.views import go


def test_e_writes_the_whole_search_and_says_where(console: Console, tmp_path: Path) -> None:
    go(console, "4")
    screen = console.wait_for(re.compile(r"[\d,]+ of [\d,]+ calls loaded").search, 15, why="the search's count")
    console.wait_for(lambda s: "e export CSV" in s.splitlines()[-1], 10, why="the key in the footer")
    total = int(re.search(r"of ([\d,]+) calls loaded", screen).group(1).replace(",", ""))  # type: ignore[union-attr]
    console.keys("e")
    console.wait_for("Export this search to CSV", 10, why="the export dialog")
    console.keys("BTab", "BTab")  # from the Export button, past "replace", to the file name
    target = tmp_path / "search.csv"
    console.keys("C-u")
    console.type(str(target))
    console.keys("Enter")
    done = console.wait_for("wrote ", 45, why="where the export went")  # two pages of 200 on a loaded machine
    assert f"wrote {total:,} calls" in done, done
    assert re.search(r"[\d,]+ of [\d,]+ calls loaded", done), done  # the view still says what it shows
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == total + 1 and rows[0][0] == "uuid"
