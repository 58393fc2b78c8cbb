"""Figure 5: capacity, concurrent calls against one bot process.

One bot process (bench.botproc: BotServer, instant providers, the offline VAD on every frame,
INFO log to a file as `kconsole bot` writes it) and, in a separate process, N callers
(bench.loadgen) streaming 16 kHz audio in real time, 20 ms frames, each with one utterance
and one bot answer every 6 s. For each level, after every call is connected and greeted:

- CPU per call: the bot's utime + stime (/proc/<pid>/stat) over the window, as % of one core;
  and, load-proof, its CPU time per audio frame handled in the window times 50 frames a
  second (a bot starved by other work on the machine gets fewer cores, and handles fewer
  frames, but each frame costs it the same CPU time);
- event-loop lag p99: the bot's lag probe (sleep 10 ms, record how late it woke);
- greetings within 50 ms: the bot's own figure (metadata -> first playAudio sent) and the
  callers' (-> received; includes the load generator's own delays on a shared 2-core box);
- dropped: calls that closed, failed to connect or were never greeted.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from bench import sysinfo
from bench.harness import ROOT, BotProcess, Caller
from bench.report import Figure, Table, percentile

NAME = "capacity"
TITLE = "5. Capacity (concurrent real-time calls, one bot process, callers in another)"
TARGET_CALLS = 200
TARGET_LAG_MS = 20.0
FRAMES_PER_S = 50  # the callers' 20 ms frames


async def _warm_up(url: str) -> None:
    callers = [Caller(url) for _ in range(3)]
    for c in callers:
        await c.connect()
        sent = await c.send_metadata()
        await c.wait_for("playAudio", after=sent)
    for c in callers:
        await c.close()


async def measure_level(n: int, seconds: float, ctx: Any) -> dict[str, Any]:
    async with BotProcess(providers="instant", lag_probe=True, log=f"/tmp/bench-bot-{n}.log",
                          env={"BOT_MAX_CALLS": str(max(n, 200))}) as bot:
        await _warm_up(bot.url)
        await asyncio.sleep(0.5)
        rss_idle = bot.rss()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        gen = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", "--url", bot.url, "--calls", str(n), "--seconds", str(seconds),
            "--ramp", str(min(4.0, n / 100)), cwd="/tmp", env=env, stdout=asyncio.subprocess.PIPE,
        )
        assert gen.stdout is not None
        connected = json.loads(await asyncio.wait_for(gen.stdout.readline(), 60))
        await bot.reset()
        frames0 = (await bot.stats())["audio_frames"]
        cpu0, t0 = bot.cpu_seconds(), time.monotonic()
        gen0, busy0 = sysinfo.cpu_seconds(gen.pid), sysinfo.machine_busy()
        rss_samples: list[int] = []
        line_task = asyncio.create_task(gen.stdout.readline())
        while not line_task.done():
            rss_samples.append(bot.rss())
            await asyncio.wait({line_task}, timeout=0.5)
        done = json.loads(line_task.result())
        cpu1, t1 = bot.cpu_seconds(), time.monotonic()
        gen1, busy1 = sysinfo.cpu_seconds(gen.pid), sysinfo.machine_busy()
        stats = await bot.stats()
        await asyncio.wait_for(gen.wait(), 60)
    window = t1 - t0
    cores = (cpu1 - cpu0) / window if window > 0 else float("nan")
    bot_greet = [v for v in stats["greeting_ms"] if v is not None][-n:]
    frames = stats["audio_frames"] - frames0
    per_call = (cpu1 - cpu0) / frames * FRAMES_PER_S if frames > 0 else float("nan")
    return {
        "calls": n, "window_s": window, "cores": cores, "cores_per_call": per_call, "frames": frames,
        "gen_cores": (gen1 - gen0) / window,
        "machine_busy": (busy1[0] - busy0[0]) / max(1.0, busy1[1] - busy0[1]), "lag_ms": stats["lag_ms"], "connected": connected,
        "done": done, "bot_greet_ms": bot_greet, "gc_ms": stats.get("gc_ms", []), "rss_idle": rss_idle,
        "rss_loaded": max(rss_samples) if rss_samples else bot.rss(), "sessions": stats["sessions"],
    }


async def run(ctx) -> Figure:
    levels = (200,) if ctx.quick else (50, 100, 200, 400)
    seconds = 4.0 if ctx.quick else 10.0
    fig = Figure(NAME, TITLE)
    results = []
    for n in levels:
        ctx.progress(f"{n} calls, {seconds:.0f} s window")
        results.append(await measure_level(n, seconds, ctx))
    ctx.shared["capacity"] = results
    table = Table(["calls", "bot CPU (cores)", "CPU/call (% core)", "CPU time/call (% core)", "loop lag p50 ms", "p99 ms",
                   "max ms", "greeted <=50ms (bot)", "greeted <=50ms (caller)", "dropped", "callers' CPU", "others' CPU"])
    ncpu = len(os.sched_getaffinity(0))
    for r in results:
        lag = r["lag_ms"]
        done = r["done"]
        bot_ok = sum(1 for v in r["bot_greet_ms"] if v <= 50)
        caller_ok = sum(1 for v in done["greet_ms"] if v <= 50)
        table.add(str(r["calls"]), r["cores"], 100 * r["cores"] / r["calls"], 100 * r["cores_per_call"], percentile(lag, 50),
                  percentile(lag, 99),
                  max(lag, default=float("nan")), f"{bot_ok}/{r['calls']}", f"{caller_ok}/{r['calls']}",
                  str(done["dropped"]), r["gen_cores"],
                  max(0.0, r["machine_busy"] * ncpu - r["cores"] - r["gen_cores"]))
    fig.tables.append(table)
    target = next((r for r in results if r["calls"] == TARGET_CALLS), None)
    if target is not None:
        p99 = percentile(target["lag_ms"], 99)
        dropped = target["done"]["dropped"]
        fig.check(f"{TARGET_CALLS} calls: loop lag p99 <= {TARGET_LAG_MS:.0f} ms, none dropped",
                  f"p99 {p99:.1f} ms, {dropped} dropped", p99 <= TARGET_LAG_MS and dropped == 0)
    for r in results:
        if r["done"]["errors"]:
            fig.note(f"{r['calls']} calls: errors {r['done']['errors']}")
    fig.note("one machine runs the bot, the callers and whatever else is running: CPU in cores; 'others' is the "
             "rest of the machine's load during the window, which starves the bot's loop when it is high")
    fig.note("CPU time/call: the bot's CPU time per audio frame it handled x 50 frames/s (holds under load, where "
             "CPU/call only shows the share of the machine the bot got)")
    return fig
