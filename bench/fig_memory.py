"""Figure 6: memory per call, the bot's resident memory growth per concurrent call, with the
instant providers and with the default offline ones (pocketsphinx, the script, eSpeak NG).

VmRSS of the bot process (/proc/<pid>/status): *before* (after a warm-up, no call up), its
peak *during* N calls streaming (sampled every 0.5 s; bench.loadgen: 16 kHz in real time,
one 1.2 s utterance per 6 s cycle, each call its own phase, so about a fifth of the callers
speak at any instant), and *after* every call has left (the offline bot frees idle decoders
after 3 s here, 30 s by default). Growth per call = (during - before) / N; the marginal figure
between two levels ((RSS at N2 - RSS at N1) / (N2 - N1)) leaves out what the first calls
allocate once (caches, the decoder pool) and is the better estimate for sizing a server.
The instant rows reuse the capacity figure's runs when both run together.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from bench.fig_capacity import measure_level
from bench.harness import ROOT, BotProcess, Caller
from bench.report import Figure, Table

NAME = "memory"
TITLE = "6. Memory per call (bot RSS growth per concurrent call; instant and offline providers)"
MIB = 1024 * 1024
TARGET_OFFLINE_KIB = 1024.0
IDLE_DECODER_S = 3.0
OFFLINE_LEVELS = (20, 100)


async def measure_offline(n: int, seconds: float, ctx: Any, *, echo_cancel: bool = True) -> dict[str, Any]:
    """One burst of `n` offline calls: RSS before / during / after, and the decoder pool."""
    extra = ("--idle-decoder-s", str(IDLE_DECODER_S), *(() if echo_cancel else ("--no-echo-cancel",)))
    async with BotProcess(providers="offline", greeting="Hello, Acme here.", extra=extra) as bot:
        warm = [Caller(bot.url) for _ in range(2)]
        for c in warm:
            await c.connect()
            sent = await c.send_metadata()
            await c.wait_for("playAudio", after=sent, timeout=20)
        for c in warm:
            await c.close()
        await asyncio.sleep(IDLE_DECODER_S + 1.5)
        before = bot.rss()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        gen = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", "--url", bot.url, "--calls", str(n), "--seconds", str(seconds),
            "--ramp", str(min(4.0, n / 25)), cwd="/tmp", env=env, stdout=asyncio.subprocess.PIPE,
        )
        assert gen.stdout is not None
        await asyncio.wait_for(gen.stdout.readline(), 120)
        samples: list[int] = []
        line_task = asyncio.create_task(gen.stdout.readline())
        while not line_task.done():
            samples.append(bot.rss())
            await asyncio.wait({line_task}, timeout=0.5)
        done = json.loads(line_task.result())
        during_stats = await bot.stats()
        await asyncio.wait_for(gen.wait(), 60)
        for _ in range(100):  # every call has ended in the bot
            if (await bot.stats())["sessions"] == 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(IDLE_DECODER_S + 2.5)
        after = bot.rss()
        after_stats = await bot.stats()
    return {"calls": n, "before": before, "during": max(samples) if samples else before, "after": after,
            "dropped": done["dropped"], "decoders": during_stats.get("decoders"),
            "decoders_after": after_stats.get("decoders"), "py_heap": during_stats.get("py_heap_peak"),
            "py_heap_after": after_stats.get("py_heap")}


async def run(ctx) -> Figure:
    fig = Figure(NAME, TITLE)
    results = ctx.shared.get("capacity")
    if not results:
        results = []
        for n in ((50,) if ctx.quick else (50, 200)):
            ctx.progress(f"instant providers, {n} calls")
            results.append(await measure_level(n, 4.0, ctx))
        fig.note("instant rows measured in their own runs (4 s windows)")
    else:
        fig.note("instant rows from the capacity figure's runs")
    offline = []
    for n in OFFLINE_LEVELS:
        ctx.progress(f"offline providers, {n} calls")
        offline.append(await measure_offline(n, 5.0 if ctx.quick else 12.0, ctx))

    table = Table(["providers", "calls", "RSS before MiB", "during MiB", "after MiB", "per call KiB",
                   "marginal KiB/call", "decoders (peak leased / created)"])
    previous = None
    instant_kib = []
    for r in sorted(results, key=lambda r: r["calls"]):
        growth = r["rss_loaded"] - r["rss_idle"]
        kib = growth / r["calls"] / 1024
        instant_kib.append(kib)
        marginal = "-"
        if previous is not None:
            marginal = f"{(r['rss_loaded'] - previous['rss_loaded']) / (r['calls'] - previous['calls']) / 1024:.0f}"
        table.add("instant", str(r["calls"]), r["rss_idle"] / MIB, r["rss_loaded"] / MIB, "-", f"{kib:.0f}", marginal, "-")
        previous = r
    previous = None
    offline_kib = []
    for r in offline:
        kib = (r["during"] - r["before"]) / r["calls"] / 1024
        offline_kib.append(kib)
        marginal = "-"
        if previous is not None:
            marginal = f"{(r['during'] - previous['during']) / (r['calls'] - previous['calls']) / 1024:.0f}"
        dec = r["decoders"] or {}
        table.add("offline", str(r["calls"]), r["before"] / MIB, r["during"] / MIB, r["after"] / MIB, f"{kib:.0f}",
                  marginal, f"{dec.get('peak', '-')} / {dec.get('created', '-')}")
        previous = r
    fig.tables.append(table)
    fig.check("instant providers: bounded, linear", f"{min(instant_kib):.0f}-{max(instant_kib):.0f} KiB per call", None)
    top = offline[-1]
    per_call = offline_kib[-1]
    marginal = (top["during"] - offline[0]["during"]) / (top["calls"] - offline[0]["calls"]) / 1024
    fig.check(f"offline providers: <= {TARGET_OFFLINE_KIB:.0f} KiB per live call ({top['calls']} calls, and marginal)",
              f"{per_call:.0f} KiB per call, marginal {marginal:.0f} KiB/call ({offline[0]['calls']} calls: "
              f"{offline_kib[0]:.0f} KiB, the shared decoder pool's fixed cost spread over fewer calls)",
              per_call <= TARGET_OFFLINE_KIB and marginal <= TARGET_OFFLINE_KIB)
    returned = [(r["during"] - r["after"]) / max(1, r["during"] - r["before"]) for r in offline]
    fig.check("offline: memory returned after the burst (share of the growth given back)",
              ", ".join(f"{100 * v:.0f}%" for v in returned), None)
    for r in offline:
        if r["dropped"]:
            fig.note(f"offline {r['calls']} calls: {r['dropped']} dropped")
    fig.note("offline: a call leases a ~7 MiB pocketsphinx decoder only while its caller speaks (bounded pool); "
             "eSpeak NG, the prompt cache and the VAD's tables are one per process")
    return fig
