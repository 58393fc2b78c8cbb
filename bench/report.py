"""Figures, tables and the statistics they print (median, p95, p99), with PASS/MISS.

A `Figure` is what one benchmark module returns: a title, one or more tables, a verdict per
target and free-text notes (what was measured, how, and why a miss misses). `render()` prints
it for a terminal; `markdown()` gives the same for docs/benchmarks.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default); NaN for no values."""
    if not values:
        return math.nan
    data = sorted(values)
    k = (len(data) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def p95(values: Sequence[float]) -> float:
    return percentile(values, 95)


def fmt(value: float | int | str | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, int):
        return f"{value}{unit}"
    return f"{value:.{digits}f}{unit}"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""

    def add(self, *cells: object) -> None:
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])  # type: ignore[arg-type]

    def lines(self) -> list[str]:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        out = []
        if self.caption:
            out.append(self.caption)
        out.append("  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True)))
        out.append("  ".join("-" * w for w in widths))
        for row in self.rows:
            out.append("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=False)))
        return out

    def markdown(self) -> list[str]:
        out = []
        if self.caption:
            out += [f"*{self.caption}*", ""]
        out.append("| " + " | ".join(self.headers) + " |")
        out.append("|" + "|".join("---" for _ in self.headers) + "|")
        out += ["| " + " | ".join(row) + " |" for row in self.rows]
        return out


def _numeric(cell: str) -> bool:
    """Right-align numbers (and counts like 12/12), left-align text."""
    text = cell.replace(",", "").replace("/", "").replace("%", "").replace(".", "", 1).lstrip("+-")
    return text.isdigit() or cell in ("n/a", "-")


@dataclass
class Verdict:
    """One target: what was promised, what was measured, and whether it holds."""

    target: str
    measured: str
    ok: bool | None  # None: nothing to judge (figure printed for information)

    @property
    def label(self) -> str:
        return "INFO" if self.ok is None else "PASS" if self.ok else "MISS"


@dataclass
class Figure:
    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def check(self, target: str, measured: str, ok: bool | None) -> None:
        self.verdicts.append(Verdict(target, measured, ok))

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def status(self) -> str:
        if self.error:
            return "ERROR"
        judged = [v.ok for v in self.verdicts if v.ok is not None]
        if not judged:
            return "INFO"
        return "PASS" if all(judged) else "MISS"

    def render(self) -> str:
        out = [f"== {self.title} ({self.seconds:.1f} s) ".ljust(96, "=")]
        for table in self.tables:
            out += table.lines()
            out.append("")
        for v in self.verdicts:
            out.append(f"  [{v.label}] target {v.target}: measured {v.measured}")
        if self.error:
            out.append(f"  [ERROR] {self.error}")
        for n in self.notes:
            out.append(f"  note: {n}")
        return "\n".join(out)

    def markdown(self) -> str:
        out = [f"### {self.title}", ""]
        for table in self.tables:
            out += table.markdown()
            out.append("")
        if self.verdicts:
            out += ["| target | measured | verdict |", "|---|---|---|"]
            out += [f"| {v.target} | {v.measured} | **{v.label}** |" for v in self.verdicts]
            out.append("")
        if self.error:
            out += [f"**ERROR**: {self.error}", ""]
        out += [f"- {n}" for n in self.notes]
        if self.notes:
            out.append("")
        return "\n".join(out)


def summary_table(figures: Iterable[Figure]) -> Table:
    t = Table(["figure", "status", "time"], caption="Summary")
    for f in figures:
        t.add(f.title, f.status, f"{f.seconds:.1f} s")
    return t
