"""Figure 4: time to first audio with the offline providers (what `kconsole bot` runs with no
keys: pocketsphinx STT, the scripted responder, eSpeak NG TTS).

A caller (this process) speaks lines of the receptionist script, synthesised with eSpeak NG
at 16 kHz, streamed in real time in 20 ms frames over a -62 dBFS line hiss, each once the
bot's previous audio has played out. Measured on the wire: the caller stops speaking (the
last sample of the line above -40 dBFS) -> the first playAudio of the answer. The bot's own
per-turn figures (caller stopped -> first playAudio sent, and STT final -> first playAudio
sent) show where the time goes: end-of-speech detection and recognition, or the reply.
The end of the turn is decided by the turn detector (voice.turn): ~200 ms of silence after
a complete question, instead of the fixed 600 ms the recogniser waited before.
"""

from __future__ import annotations

import asyncio

import numpy as np

from bench.corpus import RATE, silence_s, with_line_noise
from bench.harness import BotProcess, Caller
from bench.report import Figure, Table, median, p95, percentile

NAME = "offline"
TITLE = "4. Time to first audio, offline providers (caller stops -> first reply audio)"
LINES = ["What are your opening hours?", "How much does it cost?", "Where is my order?",
         "What time do you close?", "Do you have a price list?", "Has my order shipped?"]


def speech_end(pcm: bytes, threshold_dbfs: float = -40.0, window_ms: float = 10.0) -> float:
    """Seconds from the clip's start to the end of its last window above the threshold."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    w = int(RATE * window_ms / 1000)
    limit = 32768 * 10 ** (threshold_dbfs / 20)
    last = 0
    for i in range(0, len(x) - w, w):
        if np.sqrt(np.mean(x[i : i + w] ** 2)) >= limit:
            last = i + w
    return last / RATE


async def _synth(text: str) -> bytes:
    from voice.providers.local_tts import EspeakTTS

    return b"".join([pcm async for pcm in EspeakTTS().synthesize(text, sample_rate=RATE)])


async def _call(url: str, lines: list[bytes], results: list[float | None]) -> None:
    caller = Caller(url)
    await caller.connect()
    sent = await caller.send_metadata()
    if await caller.wait_for("playAudio", after=sent, timeout=10) is None:
        results += [None] * len(lines)
        await caller.close()
        return
    for pcm in lines:
        while True:  # let the greeting (or the last answer) play out, then a short pause
            wait = caller.playback_end() + 0.4 - asyncio.get_running_loop().time()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        lead = 0.3
        audio = with_line_noise(silence_s(RATE, lead) + pcm + silence_s(RATE, 1.2), RATE)
        t0 = asyncio.get_running_loop().time() + 0.01  # the loop's clock is time.monotonic
        stopped = t0 + lead + speech_end(pcm)
        await caller.stream(audio, start=t0)
        reply = await caller.wait_for("playAudio", after=stopped, timeout=6)
        results.append(None if reply is None else (reply - stopped) * 1000)
    await caller.close()


async def run(ctx) -> Figure:
    fig = Figure(NAME, TITLE)
    calls = 2  # at once: pocketsphinx decodes off the loop, two calls do not slow each other down
    per_call = 1 if ctx.quick else 3
    pcms = [await _synth(text) for text in LINES[: calls * per_call]]
    results: list[float | None] = []
    async with BotProcess(providers="offline", greeting="Hello, Acme here.") as bot:
        ctx.progress(f"{calls} call(s) x {per_call} lines, real time")
        await asyncio.gather(*(_call(bot.url, pcms[i * per_call : (i + 1) * per_call], results) for i in range(calls)))
        stats = await bot.stats()
    got = [v for v in results if v is not None]
    table = Table(["measure", "turns", "median ms", "p95 ms", "max ms"])
    table.add("caller stops -> first reply audio received (wire)", f"{len(got)}/{len(results)}", median(got), p95(got),
              max(got, default=float("nan")))
    total = [v for v in stats["total_ms"] if v is not None]
    first = [v for v in stats["first_audio_ms"] if v is not None]
    table.add("bot: caller stopped (VAD) -> first playAudio sent", str(len(total)), median(total), p95(total),
              max(total, default=float("nan")))
    table.add("bot: STT final -> first playAudio sent (script + eSpeak)", str(len(first)), median(first), p95(first),
              max(first, default=float("nan")))
    fig.tables.append(table)
    fig.check("p50 <= 350 ms, p95 <= 500 ms (adaptive turn detection); every line answered",
              f"median {median(got):.0f} ms, p95 {percentile(got, 95):.0f} ms, {len(got)}/{len(results)} answered",
              len(got) == len(results) and median(got) <= 350 and percentile(got, 95) <= 500)
    return fig
