"""Figure 4: time to first audio with the offline providers (what `kconsole bot` runs with no
keys: pocketsphinx STT, the scripted responder, eSpeak NG TTS).

Real time, on the wire: callers (this process, two calls at once) speak lines of the
receptionist script, synthesised with eSpeak NG at 16 kHz, streamed in real time in 20 ms
frames over a -62 dBFS line hiss, each once the bot's previous audio has played out.
Measured: the caller stops speaking (the last sample of the line above -40 dBFS) -> the first
playAudio of the answer, for a call's first turn and for its later ones (the first used to
pay pocketsphinx's CMN second pass). The bot's own per-turn figures (caller stopped ->
first playAudio sent, and STT final -> first playAudio sent) show where the time goes. The
load average, the machine's busy cores and the bot's own CPU during the run are printed
beside them: on a shared machine the wall-clock figures include waiting for a CPU.

CPU per stage (this process, one stage at a time, `time.thread_time`/`process_time`): the
same lines through each stage of the reply path, so the cost of each is known whatever the
load does to wall time: recognition while the caller speaks (per second of speech), the
recogniser's work from the caller's last word to its final (in total, and on the frame that
decides, which is the part the caller waits for), the turn decision in audio time (silence
the detector waits; no CPU), the script's answer up to its first sentence, eSpeak NG up to
its first audio, resampling that audio to the call's rate, and encoding the first playAudio.
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np

from bench import sysinfo
from bench.corpus import RATE, silence_s, with_line_noise
from bench.harness import BotProcess, Caller
from bench.report import Figure, Table, median, p95, percentile

NAME = "offline"
TITLE = "4. Time to first audio, offline providers (caller stops -> first reply audio)"
LINES = ["What are your opening hours?", "How much does it cost?", "Where is my order?",
         "What time do you close?", "Do you have a price list?", "Has my order shipped?"]
Result = tuple[bool, float | None]  # (the call's first turn, caller stops -> first reply audio ms)


def speech_end(pcm: bytes, threshold_dbfs: float = -40.0, window_ms: float = 10.0, rate: int = RATE) -> float:
    """Seconds from the clip's start to the end of its last window above the threshold."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    w = int(rate * window_ms / 1000)
    limit = 32768 * 10 ** (threshold_dbfs / 20)
    last = 0
    for i in range(0, len(x) - w, w):
        if np.sqrt(np.mean(x[i : i + w] ** 2)) >= limit:
            last = i + w
    return last / rate


async def _synth(text: str, rate: int = RATE) -> bytes:
    from voice.providers.local_tts import EspeakTTS

    return b"".join([pcm async for pcm in EspeakTTS().synthesize(text, sample_rate=rate)])


async def _call(url: str, lines: list[bytes], results: list[Result]) -> None:
    caller = Caller(url)
    await caller.connect()
    sent = await caller.send_metadata()
    if await caller.wait_for("playAudio", after=sent, timeout=10) is None:
        results += [(i == 0, None) for i in range(len(lines))]
        await caller.close()
        return
    for i, pcm in enumerate(lines):
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
        results.append((i == 0, None if reply is None else (reply - stopped) * 1000))
    await caller.close()


def _loadavg() -> float:
    with open("/proc/loadavg") as fh:
        return float(fh.read().split()[0])


def _row(table: Table, label: str, values: list[float | None]) -> list[float]:
    got = [v for v in values if v is not None]
    table.add(label, f"{len(got)}/{len(values)}", median(got), p95(got), max(got, default=float("nan")))
    return got


async def _real_time(ctx, pcms: list[bytes], calls: int, per_call: int, rounds: int) -> tuple[Table, list[float], str]:
    results: list[Result] = []
    total: list[float] = []
    first: list[float] = []
    loads = [_loadavg()]
    busy0, all0 = sysinfo.machine_busy()
    wall0 = time.monotonic()
    async with BotProcess(providers="offline", greeting="Hello, Acme here.") as bot:
        cpu0 = bot.cpu_seconds()
        for r in range(rounds):
            ctx.progress(f"round {r + 1}/{rounds}: {calls} calls at once x {per_call} lines, real time")
            lines = [pcms[(i * per_call + k + r) % len(pcms)] for i in range(calls) for k in range(per_call)]
            await asyncio.gather(*(_call(bot.url, lines[i * per_call : (i + 1) * per_call], results)
                                   for i in range(calls)))
            loads.append(_loadavg())
        stats = await bot.stats()
        bot_cpu = bot.cpu_seconds() - cpu0
    busy1, all1 = sysinfo.machine_busy()
    wall = time.monotonic() - wall0
    cores = len(os.sched_getaffinity(0))
    machine_cores = (busy1 - busy0) / max(1.0, all1 - all0) * cores
    total = [v for v in stats["total_ms"] if v is not None]
    first = [v for v in stats["first_audio_ms"] if v is not None]
    table = Table(["measure (real time)", "turns", "median ms", "p95 ms", "max ms"])
    got = _row(table, "caller stops -> first reply audio received (wire), all turns", [v for _, v in results])
    _row(table, "  the call's first turn", [v for f, v in results if f])
    _row(table, "  later turns", [v for f, v in results if not f])
    _row(table, "bot: caller stopped (VAD) -> first playAudio sent", list(total))
    _row(table, "bot: STT final -> first playAudio sent (script + eSpeak)", list(first))
    load = (f"load average {min(loads):.1f}-{max(loads):.1f} on {cores} cores during the run; machine busy "
            f"{machine_cores:.2f} cores, of which the bot {bot_cpu / wall:.2f}")
    table.caption = f"Real time, {len(results)} turns ({load})"
    if len(got) < len(results):
        got = []  # an unanswered line fails the figure
    return table, got, load


async def _stage_cpu(pcms: list[bytes], texts: list[str], rate: int) -> dict[str, list[float]]:
    """CPU (ms) of each stage of the reply path for each line, one stage at a time."""
    from voice import protocol
    from voice.audio import Resampler
    from voice.providers.base import ChatMessage, TextDelta
    from voice.providers.local_stt import PocketsphinxSTT
    from voice.providers.local_tts import NATIVE_RATE, EspeakTTS
    from voice.providers.script import ScriptedLLM, load_script
    from voice.reply import closing
    from voice.sentences import SentenceSplitter

    script = load_script(None)
    stt = PocketsphinxSTT(script.vocabulary())
    await stt.warm()
    llm = ScriptedLLM(script)
    tts = EspeakTTS()
    await tts.warm()
    out: dict[str, list[float]] = {k: [] for k in (
        "speech", "after", "decide", "decision", "first_after", "llm", "tts", "resample", "encode", "redecodes")}
    step = rate * 2 * 20 // 1000
    first_chunk = rate * 2 * 40 // 1000
    for call, (text, pcm) in enumerate(zip(texts, pcms, strict=True)):
        if rate != RATE:
            pcm = Resampler(RATE, rate).process(pcm, last=True)
        # Each line twice in one call: the first utterance of a call, then a later one.
        stream = await stt.open(sample_rate=rate, call_id=f"cpu-{call}")
        end = 0.3 + speech_end(pcm, rate=rate)
        audio = with_line_noise(silence_s(rate, 0.3) + pcm + silence_s(rate, 1.5), rate)
        final = ""
        for turn in range(2):
            speech_cpu = after_cpu = decide_cpu = 0.0
            decided: float | None = None
            for k, off in enumerate(range(0, len(audio), step)):
                c0 = time.thread_time()
                results = stream._process(audio[off : off + step], False)
                dt = time.thread_time() - c0
                at = (k + 1) * 0.02
                if at <= end:
                    speech_cpu += dt
                elif decided is None:
                    after_cpu += dt
                if decided is None and any(t.final and t.speech_final for t in results):
                    decided, decide_cpu = at, dt
                    final = next(t.text for t in results if t.final)
                    break
            out["speech"].append(speech_cpu * 1000 / end)
            out["first_after" if turn == 0 else "after"].append(after_cpu * 1000)
            if turn:
                out["decide"].append(decide_cpu * 1000)
            if decided is not None:
                out["decision"].append((decided - end) * 1000)
            # the rest of this turn's trailing silence, so the next turn starts clean
            for off in range(k * step + step, len(audio), step):
                stream._process(audio[off : off + step], False)
        out["redecodes"].append(float(stream.redecodes))
        await stream.close()
        # the script: the answer up to its first sentence
        messages = [ChatMessage(role="system", content="bench"), ChatMessage(role="user", content=final or text)]
        c0 = time.thread_time()
        splitter = SentenceSplitter()
        sentence = ""
        async for delta in llm.stream(messages, []):
            if isinstance(delta, TextDelta) and (done := splitter.push(delta.text)):
                sentence = done[0]
                break
        sentence = sentence or " ".join(splitter.flush())
        out["llm"].append((time.thread_time() - c0) * 1000)
        # eSpeak NG up to its first audio (on its own thread: the process's CPU)
        c0 = time.process_time()
        async with closing(tts.synthesize(sentence, sample_rate=NATIVE_RATE)) as stream_tts:
            native = await anext(stream_tts)
            out["tts"].append((time.process_time() - c0) * 1000)
        c0 = time.thread_time()
        pcm_out = Resampler(NATIVE_RATE, rate).process(native)
        out["resample"].append((time.thread_time() - c0) * 1000)
        c0 = time.thread_time()
        protocol.play_audio((pcm_out * 2)[:first_chunk], rate)
        out["encode"].append((time.thread_time() - c0) * 1000)
    return out


async def run(ctx) -> Figure:
    fig = Figure(NAME, TITLE)
    calls = 2  # at once: pocketsphinx decodes off the loop, two calls do not slow each other down
    per_call = 3
    rounds = 1 if ctx.quick else 3
    pcms = [await _synth(text) for text in LINES]
    table, got, load = await _real_time(ctx, pcms, calls, per_call, rounds)
    fig.tables.append(table)

    ctx.progress("CPU per stage, one stage at a time, 16 kHz and 8 kHz")
    stages = Table(["stage (CPU, this process)", "16 kHz median ms", "16 kHz max", "8 kHz median ms", "8 kHz max"],
                   caption=f"CPU per stage of the reply path ({len(LINES)} lines)")
    cpu = {rate: await _stage_cpu(pcms, LINES, rate) for rate in (16000, 8000)}
    rows = [("recognition while the caller speaks, per second of speech", "speech"),
            ("recognition, caller's last word -> final, a call's first turn", "first_after"),
            ("recognition, caller's last word -> final, later turns", "after"),
            ("  of which on the frame that decides (the caller waits for it)", "decide"),
            ("second passes (CMN) per call of two turns", "redecodes"),
            ("script: answer up to its first sentence", "llm"),
            ("eSpeak NG: request -> first audio (40 ms)", "tts"),
            ("resampling that audio to the call's rate", "resample"),
            ("encoding the first playAudio (WAV, base64, JSON)", "encode")]
    for label, key in rows:
        stages.add(label, *(v for rate in (16000, 8000) for v in (median(cpu[rate][key]), max(cpu[rate][key]))))
    stages.add("turn decision, audio time (silence waited, no CPU)",
               *(v for rate in (16000, 8000) for v in (median(cpu[rate]["decision"]), max(cpu[rate]["decision"]))))
    fig.tables.append(stages)
    path = {rate: median(cpu[rate]["decide"]) + median(cpu[rate]["llm"]) + median(cpu[rate]["tts"])
            + median(cpu[rate]["resample"]) + median(cpu[rate]["encode"]) for rate in (16000, 8000)}
    fig.note(f"CPU on the caller's wait after the decision (decide frame + script + eSpeak + resample + encode): "
             f"{path[16000]:.1f} ms at 16 kHz, {path[8000]:.1f} ms at 8 kHz; the rest of the wait is the decision's "
             f"silence ({median(cpu[16000]['decision']):.0f} ms audio) and, under load, waiting for a CPU")
    fig.check("p50 <= 350 ms, p95 <= 500 ms (adaptive turn detection); every line answered",
              f"median {median(got):.0f} ms, p95 {percentile(got, 95):.0f} ms, {len(got)} turns; {load}",
              bool(got) and median(got) <= 350 and percentile(got, 95) <= 500)
    return fig
