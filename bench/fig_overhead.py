"""Figure 1: bot overhead per turn with providers that answer instantly.

STT final transcript -> first playAudio on the wire. The instant STT in the bot process stamps
each final with CLOCK_MONOTONIC; the caller (this process) stamps the arrival of each playAudio
on the same clock; the difference is everything the bot adds to a turn: dispatching the
transcript, the LLM stage, sentence cutting, TTS stage, chunking, WAV + base64 + JSON, the
send, and loopback. The bot's own view (its TurnMetrics: final -> playAudio *sent*) is printed
beside it, which tells the wire and the bot apart.
"""

from __future__ import annotations

import asyncio

from bench.corpus import RATE, speech_clip
from bench.harness import BotProcess, Caller
from bench.report import Figure, Table, median, p95, percentile

NAME = "overhead"
TITLE = "1. Bot overhead per turn (STT final -> first playAudio, instant providers)"
TARGET_MS = 5.0


async def _turns(caller: Caller, turns: int, phase_s: float) -> None:
    await caller.connect()
    sent = await caller.send_metadata()
    await caller.wait_for("playAudio", after=sent)
    await asyncio.sleep(0.3 + phase_s)  # the greeting ("Hi.") has played
    utterance = speech_clip(RATE, seconds=0.26, seed=1).pcm + bytes(int(RATE * 0.24) * 2)
    for _ in range(turns):
        start = await caller.stream(utterance)
        await caller.wait_for("playAudio", after=start, timeout=3.0)
        await asyncio.sleep(0.18)  # the reply ("Sure.", 100 ms) plays out before the next turn
    await caller.close()


async def run(ctx) -> Figure:
    turns = 6 if ctx.quick else 60
    fig = Figure(NAME, TITLE)
    async with BotProcess(providers="instant", greeting="Hi.") as bot:
        # warm-up: first-call costs (imports, caches) are not a per-turn figure
        await _turns(Caller(bot.url), 2, 0.0)
        await bot.reset()
        callers = [Caller(bot.url) for _ in range(2)]
        ctx.progress(f"{turns} turns on each of 2 calls")
        await asyncio.gather(*(_turns(c, turns, 0.3 * i) for i, c in enumerate(callers)))
        stats = await bot.stats()
    by_id = {c.callid: c for c in callers}
    wire: list[float] = []
    for callid, t_final in stats["finals"]:
        caller = by_id.get(callid)
        at = caller.first("playAudio", after=t_final) if caller else None
        if at is not None and at - t_final < 1.0:
            wire.append((at - t_final) * 1000)
    internal = [v for v in stats["first_audio_ms"] if v is not None]
    table = Table(["measure", "turns", "median ms", "p95 ms", "p99 ms", "max ms"])
    table.add("final -> playAudio received (wire)", len(wire), median(wire), p95(wire), percentile(wire, 99),
              max(wire, default=float("nan")))
    table.add("final -> playAudio sent (bot's TurnMetrics)", len(internal), median(internal), p95(internal),
              percentile(internal, 99), max(internal, default=float("nan")))
    fig.tables.append(table)
    expected = 2 * turns
    fig.check(f"p95 <= {TARGET_MS:.0f} ms", f"p95 {p95(wire):.2f} ms over {len(wire)}/{expected} turns",
              bool(wire) and p95(wire) <= TARGET_MS and len(wire) >= expected * 0.9)
    fig.note("bot in its own process, providers answer at once (bench.instant); 2 concurrent calls, "
             "each turn = 260 ms of voiced audio + 240 ms silence streamed in real time")
    return fig
