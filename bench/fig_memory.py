"""Figure 6: memory per call, the bot's resident memory growth per concurrent call.

VmRSS of the bot process (/proc/<pid>/status) after a warm-up with no call up, and its peak
while N calls stream (sampled every 0.5 s). Growth per call = (loaded - idle) / N; the
marginal figure between two levels ((RSS at N2 - RSS at N1) / (N2 - N1)) leaves out what the
first calls allocate once (caches, buffers) and is the better estimate for sizing a server.
Reuses the capacity figure's runs when both run together; otherwise runs its own.
"""

from __future__ import annotations

from bench.fig_capacity import measure_level
from bench.report import Figure, Table

NAME = "memory"
TITLE = "6. Memory per call (bot RSS growth per concurrent call)"
MIB = 1024 * 1024


async def run(ctx) -> Figure:  # noqa: ANN001
    fig = Figure(NAME, TITLE)
    results = ctx.shared.get("capacity")
    if not results:
        results = []
        for n in (50, 200):
            ctx.progress(f"{n} calls")
            results.append(await measure_level(n, 4.0, ctx))
        fig.note("measured in its own runs (4 s windows)")
    else:
        fig.note("from the capacity figure's runs")
    table = Table(["calls", "RSS idle MiB", "RSS loaded MiB", "growth MiB", "per call KiB", "marginal KiB/call"])
    previous = None
    per_call = []
    for r in sorted(results, key=lambda r: r["calls"]):
        growth = r["rss_loaded"] - r["rss_idle"]
        kib = growth / r["calls"] / 1024
        per_call.append(kib)
        marginal = "-"
        if previous is not None:
            marginal = f"{(r['rss_loaded'] - previous['rss_loaded']) / (r['calls'] - previous['calls']) / 1024:.0f}"
        table.add(str(r["calls"]), r["rss_idle"] / MIB, r["rss_loaded"] / MIB, growth / MIB, f"{kib:.0f}", marginal)
        previous = r
    fig.tables.append(table)
    fig.check("bounded (no target in the issue): grows linearly, no leak across levels",
              f"{min(per_call):.0f}-{max(per_call):.0f} KiB per call", None)
    return fig
