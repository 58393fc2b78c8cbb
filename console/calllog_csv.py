"""A call-log search written to a CSV file: every row it matched, safe to open in a spreadsheet.

The Call log view shows a search a page at a time; the export walks the same search to its
end (by `offset`, as the view pages) and writes each row as it arrives, so memory stays flat
however many calls matched. No widgets here: the screen asks where, this module writes.

Raw values, not the screen's display text, because a CSV is read by other tools
(spreadsheets, scripts): full call ids and recording URLs (the screen cuts ids to 8 and shows
a ♪), durations as whole seconds (summable, where the screen writes "65 s"), numbers, statuses
and codes exactly as Knowlarity sent them, and every field of the record, not only the
columns that fit on screen. Times are the one exception: they are written in the zone the
console shows (its label is in the column's header) as `YYYY-MM-DD HH:MM:SS`, which
spreadsheets read as a date and which matches what the user saw.

Account data reaches the file, so a cell that a spreadsheet would run as a formula (one
starting with = + - @, a tab or a carriage return, also after leading spaces, or their
full-width forms) is written with a leading apostrophe: shown, never evaluated (the OWASP
"CSV injection" advice). Plain numbers such as `+919812345678` or `-5` are left as they are:
a spreadsheet reads them as numbers, which runs nothing.

The file appears only when complete: rows go to a temporary file beside it that is renamed
into place at the end, so a failed search or a full disk never leaves half an export
under the name the user chose.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from console.api.calllog import MAX_CALL_LOG_LIMIT, CallLogPage, CallLogQuery, CallLogRecord
from console.api.dates import IST
from console.display import TimeFormat

__all__ = [
    "EXPORT_COLUMNS",
    "ExportError",
    "ExportResult",
    "default_export_name",
    "default_export_path",
    "export_call_log",
    "export_query",
    "header",
    "inert",
    "record_row",
    "resolve_export_path",
]

# Every field of a call-log record, in the API's order; times and the duration say their unit.
EXPORT_COLUMNS: tuple[str, ...] = tuple(CallLogRecord.model_fields)
_TIMES = frozenset({"start_time", "end_time"})

_FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]+")


class ExportError(Exception):
    """Why the export was not written, in words for the user."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int               # rows written (after the view's own filter, if one was given)
    fetched: int            # rows the search returned
    total: int | None       # what the server counted for the search (get_total), if it said


def inert(value: str) -> str:
    """`value` as a cell no spreadsheet runs as a formula (a leading apostrophe if it could be one)."""
    stripped = value.lstrip(" ")
    if not stripped or stripped[0] not in _FORMULA_START:
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def header(times: TimeFormat) -> list[str]:
    zone = times.label()
    return [f"{name} ({zone})" if name in _TIMES else "duration (s)" if name == "duration" else name
            for name in EXPORT_COLUMNS]


def _cell(value: Any, times: TimeFormat) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return times.when(value, seconds=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    # NUL cannot be stored in most spreadsheet cells; other control characters are kept (quoted).
    return inert(str(value).replace("\x00", ""))


def record_row(record: CallLogRecord, times: TimeFormat) -> list[str]:
    return [_cell(getattr(record, name), times) for name in EXPORT_COLUMNS]


def export_query(query: CallLogQuery, searched_at: datetime) -> CallLogQuery:
    """The search as it was run, for walking to its end: the largest pages Knowlarity allows,
    from the first row, with the total asked for. A search with no end time is held at the
    moment it ran, so calls that ended since do not join it (the export is what the user saw
    counted); where that would break the three-month limit the search is left open."""
    update: dict[str, Any] = {"limit": MAX_CALL_LOG_LIMIT, "offset": None, "next": None, "get_total": True}
    pinned = query.model_copy(update=update)
    if query.start_time__lt is None:
        try:
            return CallLogQuery.model_validate({**pinned.model_dump(), "start_time__lt": searched_at})
        except ValueError:
            return pinned
    return pinned


# ---- where the file goes -----------------------------------------------------------------------


def default_export_name(query: CallLogQuery | None, when: datetime) -> str:
    """`calls-<what was searched>-<date and time>.csv`, e.g. `calls-missed-9812-20261202-0840.csv`."""
    parts: list[str] = []
    if query is not None:
        for value in (query.call_status, query.customer__contains, query.agent_number,
                      *(query.solution_type or ()), *(query.campaign_id or ()), query.disposition):
            if value:
                parts.append(str(value))
        if query.start_time__gt is not None:
            parts.append("from-" + query.start_time__gt.astimezone(IST).strftime("%Y%m%d"))
    label = _UNSAFE_NAME.sub("_", "-".join(parts)).strip("_.-")[:60]
    stamp = when.strftime("%Y%m%d-%H%M")
    return f"calls-{label + '-' if label else ''}{stamp}.csv"


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def default_export_path(name: str, *, cwd: Path | None = None, home: Path | None = None) -> Path:
    """`name` in the current directory if it can be written there, else in the home directory;
    a free name (`-2`, `-3` …) if that one is taken."""
    folder = cwd if cwd is not None else Path.cwd()
    if not _writable_dir(folder):
        folder = home if home is not None else Path.home()
    candidate = folder / name
    stem, suffix = candidate.stem, candidate.suffix
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{n}{suffix}"
        n += 1
    return candidate


def resolve_export_path(typed: str, default_name: str, *, replace: bool = False,
                        cwd: Path | None = None) -> Path:
    """The file the user typed (`~` expanded, relative to the current directory; a folder means
    the default name in it), checked before any request is made. Raises ExportError."""
    text = typed.strip()
    if not text:
        raise ExportError("give a file name to write to")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (cwd if cwd is not None else Path.cwd()) / path
    if path.is_dir():
        path = path / default_name
    folder = path.parent
    if not folder.exists():
        raise ExportError(f"the folder {folder} does not exist")
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write in {folder}: permission denied")
    if path.exists() and not replace:
        raise ExportError(f"{path} already exists: choose another name, or tick “replace”")
    if path.exists() and not path.is_file():
        raise ExportError(f"{path} is not a regular file")
    return path


# ---- writing ------------------------------------------------------------------------------------


def _os_words(exc: OSError, path: Path) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"could not write {path}: {reason[:1].lower() + reason[1:]}"


async def export_call_log(
    pages: AsyncIterable[CallLogPage],
    path: Path,
    *,
    times: TimeFormat,
    keep: Callable[[CallLogRecord], bool] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> ExportResult:
    """Write every record of `pages` (those `keep` accepts) to `path` as CSV with a header.

    `pages` is the search walked to its end; an error from it (or from the disk) is raised as
    ExportError with nothing left at `path`. `progress(rows fetched, total)` after each page.
    The disk is written from a thread, a page at a time, so a slow disk never stalls the screen."""
    # Beside the target (one file system, so the rename is atomic), created with the user's
    # umask like any file they write, under a name no one else has.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        handle = await asyncio.to_thread(open, temp, "x", encoding="utf-8", newline="")
    except OSError as exc:
        raise ExportError(_os_words(exc, path)) from None
    done = False
    fetched = rows = 0
    total: int | None = None
    try:
        writer = csv.writer(handle)
        await asyncio.to_thread(writer.writerow, header(times))
        async for page in _pages_in_words(pages):
            if total is None and page.meta.total_count is not None:
                total = page.meta.total_count
            fetched += len(page.objects)
            chosen = [r for r in page.objects if keep is None or keep(r)]
            await asyncio.to_thread(writer.writerows, [record_row(r, times) for r in chosen])
            rows += len(chosen)
            if progress is not None:
                progress(fetched, total)
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(os.replace, temp, path)
        done = True
    except OSError as exc:
        raise ExportError(_os_words(exc, path)) from None
    finally:
        if not handle.closed:
            handle.close()
        if not done:
            temp.unlink(missing_ok=True)
    return ExportResult(path=path, rows=rows, fetched=fetched, total=total)


async def _pages_in_words(pages: AsyncIterable[CallLogPage]) -> AsyncIterator[CallLogPage]:
    """`pages`, with a failure of the search itself (not the disk) said as an ExportError."""
    fetched = 0
    try:
        async for page in pages:
            fetched += len(page.objects)
            yield page
    except Exception as exc:  # noqa: BLE001 - the search failed part way: say so, write nothing
        raise ExportError(f"the search failed after {fetched:,} calls, so nothing was written: {exc}") from None
