"""`python -m bench [--quick] [--only NAME,...] [--markdown FILE]`: print every figure of issue 5.

Figures run one after another (never two at once: they would measure each other), each in
its own bounded time; a figure that fails prints ERROR and the run goes on. `--markdown`
also writes the tables, verdicts and notes for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from bench import sysinfo
from bench.report import Figure, summary_table

FIGURES = [
    ("overhead", "bench.fig_overhead"),
    ("greeting", "bench.fig_greeting"),
    ("barge_in", "bench.fig_bargein"),
    ("line", "bench.fig_line"),
    ("offline", "bench.fig_offline"),
    ("turns", "bench.fig_turns"),
    ("capacity", "bench.fig_capacity"),
    ("memory", "bench.fig_memory"),
    ("console", "bench.fig_console"),
    ("calllog", "bench.fig_calllog"),
    ("limits", "bench.fig_limits"),
    ("fleet", "bench.fig_fleet"),
]


@dataclass
class Context:
    """What every figure gets: the run's mode, and a scratch dict to share measurements."""

    quick: bool
    shared: dict[str, Any] = field(default_factory=dict)

    def progress(self, text: str) -> None:
        print(f"   .. {text}", file=sys.stderr, flush=True)


async def run_figures(names: list[str], ctx: Context) -> list[Figure]:
    figures: list[Figure] = []
    for name, module_name in FIGURES:
        if name not in names:
            continue
        module = importlib.import_module(module_name)
        print(f"-> {module.TITLE}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            fig: Figure = await module.run(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken figure must not hide the others
            fig = Figure(name, module.TITLE, error=f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        fig.seconds = time.perf_counter() - started
        with open("/proc/loadavg") as fh:
            fig.note(f"load average at the end: {' '.join(fh.read().split()[:3])} "
                     f"({len(os.sched_getaffinity(0))} cores): other work on the machine skews real-time figures")
        print(fig.render(), flush=True)
        print(flush=True)
        figures.append(fig)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions: well under a minute")
    parser.add_argument("--only", default="", help="comma-separated figures: " + ",".join(n for n, _ in FIGURES))
    parser.add_argument("--markdown", default="", help="also write the figures as Markdown to this file")
    args = parser.parse_args(argv)
    known = [n for n, _ in FIGURES]
    names = [n.strip() for n in args.only.split(",") if n.strip()] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    info = sysinfo.machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    print(f"command: python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip(), flush=True)
    print(flush=True)
    started = time.perf_counter()
    figures = asyncio.run(run_figures(names, Context(quick=args.quick)))
    total = time.perf_counter() - started
    print("\n".join(summary_table(figures).lines()))
    print(f"total {total:.1f} s")
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()) + "\n\n")
            for fig in figures:
                fh.write(fig.markdown() + "\n")
            fh.write("\n".join(summary_table(figures).markdown()) + f"\n\ntotal {total:.1f} s\n")
    return 0 if all(f.error is None for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
