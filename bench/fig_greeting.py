"""Figure 2: greeting latency, metadata sent -> first playAudio received by the caller.

The Stream Node drops a call that hears nothing within a few seconds, and a caller hears dead
air until the first chunk arrives. The connection is opened first (TCP + WebSocket handshake
are the Stream Node's, not the bot's); the clock starts when the metadata frame is sent.
Three patterns: calls one after another, bursts of 20 calls whose metadata leaves at the same
instant, and the other stream rates (served from the greeting cache by resampling).
"""

from __future__ import annotations

import asyncio

from bench.harness import BotProcess, Caller
from bench.report import Figure, Table, median, p95, percentile

NAME = "greeting"
TITLE = "2. Greeting latency (metadata sent -> first playAudio received)"
TARGET_MS = 50.0


async def _one(url: str, rate: int = 16000, start: asyncio.Event | None = None) -> float | None:
    caller = Caller(url if rate == 16000 else f"{url}?sample_rate={rate}", rate=rate)
    await caller.connect()
    if start is not None:
        await start.wait()
    sent = await caller.send_metadata()
    at = await caller.wait_for("playAudio", after=sent, timeout=5.0)
    await caller.close()
    return None if at is None else (at - sent) * 1000


async def _burst(url: str, n: int) -> list[float | None]:
    go = asyncio.Event()
    tasks = [asyncio.create_task(_one(url, start=go)) for _ in range(n)]
    await asyncio.sleep(0.3)  # all connected
    go.set()
    return list(await asyncio.gather(*tasks))


def _row(table: Table, label: str, values: list[float | None]) -> list[float]:
    got = [v for v in values if v is not None]
    table.add(label, f"{len(got)}/{len(values)}", median(got), p95(got), percentile(got, 99), max(got, default=float("nan")))
    return got


async def run(ctx) -> Figure:
    sequential = 20 if ctx.quick else 100
    bursts = 2 if ctx.quick else 5
    fig = Figure(NAME, TITLE)
    table = Table(["pattern", "greeted", "median ms", "p95 ms", "p99 ms", "max ms"])
    async with BotProcess(providers="instant") as bot:
        await _one(bot.url)  # warm-up
        ctx.progress(f"{sequential} calls one after another")
        seq = [await _one(bot.url) for _ in range(sequential)]
        ctx.progress(f"{bursts} bursts of 20 simultaneous calls")
        burst: list[float | None] = []
        for _ in range(bursts):
            burst += await _burst(bot.url, 20)
            await asyncio.sleep(0.2)
        rates: dict[int, list[float | None]] = {}
        for rate in (8000, 24000, 48000):
            rates[rate] = [await _one(bot.url, rate) for _ in range(5 if ctx.quick else 20)]
    main = _row(table, "sequential, 16 kHz", seq)
    b = _row(table, "bursts of 20 at once, 16 kHz", burst)
    for rate, values in rates.items():
        _row(table, f"sequential, {rate // 1000} kHz (first call resamples the cache)", values)
    fig.tables.append(table)
    fig.check(f"p95 <= {TARGET_MS:.0f} ms (sequential)", f"p95 {p95(main):.1f} ms, {len(main)}/{len(seq)} greeted",
              bool(main) and p95(main) <= TARGET_MS and len(main) == len(seq))
    fig.check(f"p95 <= {TARGET_MS:.0f} ms (bursts of 20)", f"p95 {p95(b):.1f} ms, {len(b)}/{len(burst)} greeted",
              bool(b) and p95(b) <= TARGET_MS and len(b) == len(burst))
    fig.note("default greeting (pre-rendered at start, cached per rate); bot in its own process")
    return fig
