"""Figure 9: turn-taking. How soon the bot answers a caller who has finished, and how often
it answers one who has only paused.

Callers (this process) speak the turn corpus (`bench.turn_corpus`: eSpeak phrases; the
"paused" ones with 300-900 ms pauses and hesitations inside: "I want to, / uh, / check my
order status."), streamed in real time in 20 ms frames over a line hiss, at 16 kHz and at
8 kHz through a phone line (300-3400 Hz, G.711 mu-law). Measured on the wire:

- latency: complete turns, the caller stops (the last sample of the turn's speech) -> the
  first playAudio of the answer;
- premature: paused turns answered (first playAudio) before the caller's real end.

Four bots answer the same corpus, two at a time: the offline recogniser (pocketsphinx) and
the Deepgram adapter against the loopback fake (`tests/.../deepgram_server.py`, which
endpoints as the query says and takes its words from the corpus timeline), each with
`TURN_DETECTION=adaptive` (now) and `fixed` (before: 600 ms of silence offline; Deepgram's
endpointing=300 with utterance_end_ms=1000). The bot script is the receptionist with
one-word replies and no actions, so a turn's answer plays out in half a second and no
phrase hangs up or transfers the call.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import BotProcess, Caller
from bench.report import Figure, Table, median, p95
from bench.turn_corpus import COMPLETE, PAUSED, VOICES, Turn, build

NAME = "turns"
TITLE = "11. Turn-taking (caller stops -> first reply audio; replies inside mid-sentence pauses)"
CONFIGS = [("offline", "adaptive"), ("offline", "fixed"), ("deepgram", "adaptive"), ("deepgram", "fixed")]
LABELS = {("offline", "adaptive"): "offline, adaptive (now)", ("offline", "fixed"): "offline, fixed 600 ms (before)",
          ("deepgram", "adaptive"): "Deepgram, adaptive (now)",
          ("deepgram", "fixed"): "Deepgram, endpointing 300 ms (before)"}
ROOT = Path(__file__).resolve().parent.parent


def _bench_script(folder: Path) -> Path:
    """The receptionist script with one-word replies and no transfer / hang-up actions."""
    text = (ROOT / "voice" / "scripts" / "receptionist.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^(replies|fallback|no_transfer) = \[.*?^\]", r'\1 = ["Okay."]', text)
    text = re.sub(r'(?m)^action = ".*"$', "", text)
    text = re.sub(r'(?m)^transfer_number = ".*"$', "", text)
    path = folder / "bench-turns.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _loadavg() -> float:
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def _split(turns: list[Turn], calls: int) -> list[list[Turn]]:
    return [turns[i::calls] for i in range(calls)]


async def _call(url: str, rate: int, turns: list[Turn], out: list[tuple[Turn, float | None, bool]],
                timeline: list[tuple[float, float, str]] | None = None) -> None:
    """Speak `turns` one after another. `timeline`: the Deepgram fake's words for this call,
    filled in before each turn at its place in the audio the bot's STT hears."""
    caller = Caller(url, rate=rate)
    audio_s = 0.0  # caller audio sent so far: what the STT stream has heard
    await caller.connect()
    sent = await caller.send_metadata()
    if await caller.wait_for("playAudio", after=sent, timeout=15) is None:
        out += [(t, None, False) for t in turns]
        await caller.close()
        return
    fb = rate * 2 * 20 // 1000
    for turn in turns:
        while (wait := caller.playback_end() + 0.4 - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        t0 = time.monotonic() + 0.01
        began, ended = t0 + turn.starts[0], t0 + turn.end
        # the turn in real time; its trailing silence only until the answer has begun
        if timeline is not None:
            timeline += [(audio_s + a, audio_s + b, f) for a, b, f in zip(turn.starts, turn.ends, turn.fragments,
                                                                          strict=True)]
        speech_frames = int(turn.end * rate * 2) // fb + 1
        for k, off in enumerate(range(0, len(turn.pcm), fb)):
            if k > speech_frames and caller.first("playAudio", after=began) is not None:
                break
            frame = turn.pcm[off : off + fb]
            await caller.stream(frame, start=t0 + k * 0.02)
            audio_s += len(frame) // 2 / rate
        reply = await caller.wait_for("playAudio", after=began, timeout=3)
        if reply is None:
            out.append((turn, None, False))
        elif reply < ended:
            out.append((turn, None, True))
        else:
            out.append((turn, (reply - ended) * 1000, False))
    await caller.close()


async def _run_bot(kind: str, turn_mode: str, rate: int, script: Path, groups: list[list[Turn]],
                   out: list[tuple[Turn, float | None, bool]]) -> None:
    extra = ["--turn", turn_mode, "--script", str(script)]
    fake: Any = None
    if kind == "deepgram":
        from tests.voice.providers.provider_fakes.deepgram_server import FakeDeepgram

        fake = FakeDeepgram("bench-key", sample_rate=rate)
        await fake.start()
        extra += ["--deepgram-url", fake.url]
    try:
        async with BotProcess(providers=kind, greeting="Hello.", rate=rate, extra=tuple(extra)) as bot:
            tasks = []
            for group in groups:
                timeline: list[tuple[float, float, str]] | None = None
                if fake is not None:  # one timeline per connection, in the order the calls connect
                    before = len(fake.connections)
                    fake.timeline = timeline = []
                tasks.append(asyncio.create_task(_call(bot.url, rate, group, out, timeline)))
                if fake is not None:
                    for _ in range(300):
                        if len(fake.connections) > before:
                            break
                        await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)
    finally:
        if fake is not None:
            await fake.close()


def _audio_time(turns: list[Turn], script: Path, *, adaptive: bool) -> list[tuple[Turn, float | None, bool]]:
    """The offline recogniser's decisions in audio time, with no CPU wait: each turn decoded
    frame by frame as fast as it goes, the turn's end read off the audio position of the
    final. What the algorithm decides, whatever the machine's load does to real time."""
    from voice.providers.local_stt import PocketsphinxSTT
    from voice.providers.script import load_script
    from voice.turn import TurnConfig

    stt = PocketsphinxSTT(load_script(script).vocabulary(), turn=TurnConfig() if adaptive else None)
    out: list[tuple[Turn, float | None, bool]] = []

    async def one(turn: Turn) -> None:
        stream = await stt.open(sample_rate=turn.rate, call_id="bench")
        step = turn.rate * 2 * 20 // 1000
        got: float | None = None
        for k, off in enumerate(range(0, len(turn.pcm), step)):
            results = stream._process(turn.pcm[off : off + step], False)
            if got is None and any(t.final and t.speech_final for t in results):
                got = (k + 1) * 0.02
        await stream.close()
        if got is None:
            out.append((turn, None, False))
        else:
            out.append((turn, None, True) if got < turn.end else (turn, (got - turn.end) * 1000, False))

    async def all_turns() -> None:
        for turn in turns:
            await one(turn)

    asyncio.run(all_turns())
    return out


async def run(ctx) -> Figure:
    fig = Figure(NAME, TITLE)
    if ctx.quick:
        turns = await build(voices=VOICES[:1], complete=COMPLETE[:8:2], paused=PAUSED[1::4])
        calls = 2
    else:
        turns = await build(voices=VOICES[:1], complete=COMPLETE[:16], paused=PAUSED)
        calls = 3
    results: dict[tuple[str, str], list[tuple[Turn, float | None, bool]]] = {c: [] for c in CONFIGS}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        script = _bench_script(Path(tmp))
        ctx.progress("the offline recogniser alone, in audio time")
        loop = asyncio.get_running_loop()
        audio_rows = [(a, await loop.run_in_executor(None, functools.partial(_audio_time, turns, script, adaptive=a)))
                      for a in (True, False)]
        for rate in (16000, 8000):
            mine = [t for t in turns if t.rate == rate]
            # two bots at a time, one of them offline (pocketsphinx is the one that needs the CPU)
            for pair in (CONFIGS[0::3], CONFIGS[1:3]):
                ctx.progress(f"{rate} Hz: {len(mine)} turns to {' and '.join(LABELS[c] for c in pair)}, "
                             f"{calls} calls each, real time")
                loads.append(_loadavg())
                await asyncio.gather(*(_run_bot(kind, mode, rate, script, _split(mine, calls), results[(kind, mode)])
                                       for kind, mode in pair))
                loads.append(_loadavg())
    load = f"real time at load average {min(loads):.1f}-{max(loads):.1f} on {len(os.sched_getaffinity(0))} cores"
    table = Table(["bot", "complete turns answered", "latency p50 ms", "p95 ms", "paused turns cut off",
                   "premature %"])
    summary: dict[tuple[str, str], tuple[list[float], float, int]] = {}
    for cfg in CONFIGS:
        rows = results[cfg]
        lat = [v for t, v, _ in rows if t.kind == "complete" and v is not None]
        complete = [r for r in rows if r[0].kind == "complete"]
        paused = [r for r in rows if r[0].kind == "paused"]
        cut = sum(1 for _, _, prem in paused if prem)
        rate_pct = 100 * cut / max(1, len(paused))
        summary[cfg] = (lat, rate_pct, len(paused))
        table.add(LABELS[cfg], f"{len(lat)}/{len(complete)}", median(lat), p95(lat), f"{cut}/{len(paused)}",
                  round(rate_pct, 1))
    for adaptive, rows in audio_rows:
        lat = [v for t, v, _ in rows if t.kind == "complete" and v is not None]
        paused = [r for r in rows if r[0].kind == "paused"]
        cut = sum(1 for _, _, prem in paused if prem)
        table.add(f"offline recogniser alone, audio time ({'adaptive' if adaptive else 'fixed 600 ms'})",
                  f"{len(lat)}/{sum(1 for r in rows if r[0].kind == 'complete')}", median(lat), p95(lat),
                  f"{cut}/{len(paused)}", round(100 * cut / max(1, len(paused)), 1))
    fig.tables.append(table)
    for kind in ("offline", "deepgram"):
        lat, prem, n = summary[(kind, "adaptive")]
        _, before, _ = summary[(kind, "fixed")]
        name = "offline providers" if kind == "offline" else "Deepgram adapter (loopback fake)"
        fig.check(f"{name}: complete turns p50 <= 350 ms, p95 <= 500 ms",
                  f"p50 {median(lat):.0f} ms, p95 {p95(lat):.0f} ms ({load})", median(lat) <= 350 and p95(lat) <= 500)
        fig.check(f"{name}: premature replies <= 5 % (fixed silence: {before:.1f} %)",
                  f"{prem:.1f} % of {n} paused turns (fixed silence on the same corpus: {before:.1f} %)", prem <= 5.0)
    fig.note(f"corpus: {len(turns) // 2} turns per rate, eSpeak NG voice {VOICES[0][0]}; 16 kHz linear and "
             "8 kHz phone line (300-3400 Hz, G.711 mu-law), -62 dBFS hiss")
    fig.note("the Deepgram fake recognises perfectly (its words are the corpus text): its rows measure turn-taking, "
             "not recognition")
    return fig
