"""Figure 3: barge-in latency, and false triggers over a noise corpus.

Latency: the bot speaks a long greeting; the caller starts talking over it. Measured from the
speech onset *in the caller's audio* (the wall instant its first voiced sample was 'spoken',
the audio being streamed in real time in 20 ms frames) to the killAudio arriving at the caller.
Two kinds of speech: a synthetic vowel-like voice with an exact onset, and real synthesised
phrases (eSpeak NG, onset found by level) in three pitches.

False triggers: every clip of bench.corpus.noise_corpus (coughs, clicks, door slams, hum,
white and pink noise at several levels, DTMF, breaths) is played over the bot's speech, each
in its own call, and every killAudio is counted. The STT there is deaf (transcribes nothing):
this measures the local VAD, which is what decides a barge-in before any transcript exists.
All caller audio carries a -62 dBFS line hiss: a real line is never digital silence.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench.corpus import RATE, Clip, noise_corpus, onset_by_level, silence_s, speech_clip, with_line_noise
from bench.harness import BotProcess, Caller
from bench.report import Figure, Table, median, p95, percentile

NAME = "barge_in"
TITLE = "3. Barge-in latency (speech onset -> killAudio) and false triggers"
TARGET_MS = 150.0
LEAD_S = 0.6  # bot talking alone before the caller's sound starts
LONG_GREETING = (
    "Hello and thank you for calling Acme. Our opening hours are nine to five, Monday to Friday, "
    "and ten to two on Saturdays. You can ask me about prices, the status of an order, or ask to "
    "speak with a person at any time. How can I help you today?"
)


@dataclass
class Trial:
    clip: Clip
    kills: int = 0
    latency_ms: float | None = None
    greeted: bool = False


async def _trial(url: str, trial: Trial, tail_s: float) -> None:
    caller = Caller(url)
    await caller.connect()
    sent = await caller.send_metadata()
    if await caller.wait_for("playAudio", after=sent, timeout=5.0) is None:
        await caller.close()
        return
    trial.greeted = True
    pcm = with_line_noise(silence_s(RATE, LEAD_S) + trial.clip.pcm + silence_s(RATE, tail_s), RATE)
    t0 = await caller.stream(pcm)
    await asyncio.sleep(0.3)
    end = t0 + len(pcm) / 2 / RATE + 0.3
    trial.kills = caller.count("killAudio", after=t0, before=end)
    if trial.clip.onset_s is not None:
        onset = t0 + LEAD_S + trial.clip.onset_s
        kill = caller.first("killAudio", after=t0)
        if kill is not None:
            trial.latency_ms = (kill - onset) * 1000
    await caller.close()


async def _batch(url: str, trials: list[Trial], size: int, tail_s: float) -> None:
    for i in range(0, len(trials), size):
        await asyncio.gather(*(_trial(url, t, tail_s) for t in trials[i : i + size]))


async def _espeak_clips(quick: bool) -> list[Clip]:
    try:
        from voice.providers.local_tts import EspeakTTS
    except ImportError:
        return []
    phrases = ["What are your opening hours?", "I want to speak to a person.", "How much does it cost?",
               "Where is my order?", "No, wait.", "Goodbye."]
    clips = []
    for pitch in ((50,) if quick else (30, 50, 80)):
        tts = EspeakTTS(pitch=pitch)
        for text in phrases[: 4 if quick else None]:
            buf = bytearray()
            async for pcm in tts.synthesize(text, sample_rate=RATE):
                buf += pcm
            pcm = bytes(buf)
            clips.append(Clip(f"espeak p{pitch} {text}", pcm, RATE, onset_s=onset_by_level(pcm, RATE)))
    return clips


def _latency_row(table: Table, label: str, trials: list[Trial]) -> list[float]:
    lat = [t.latency_ms for t in trials if t.latency_ms is not None]
    greeted = [t for t in trials if t.greeted]
    table.add(label, f"{len(lat)}/{len(greeted)}", median(lat), p95(lat), percentile(lat, 99),
              max(lat, default=float("nan")))
    return lat


async def run(ctx) -> Figure:
    fig = Figure(NAME, TITLE)
    reps = 1 if ctx.quick else 3
    synthetic = [Trial(speech_clip(RATE, seconds=1.0, seed=s)) for s in range(4 if ctx.quick else 8) for _ in range(reps)]
    real = [Trial(c) for c in await _espeak_clips(ctx.quick)]
    noise = [Trial(c) for c in noise_corpus(RATE)]
    async with BotProcess(providers="deaf", greeting=LONG_GREETING) as bot:
        ctx.progress(f"{len(synthetic) + len(real)} barge-ins")
        if ctx.quick:  # fewer, all at once: the quick run trades precision for time
            await _batch(bot.url, synthetic + real, len(synthetic + real), 0.3)
        else:
            await _batch(bot.url, synthetic, 4, 0.3)
            await _batch(bot.url, real, 4, 0.3)
        ctx.progress(f"{len(noise)} noise clips over the bot's speech")
        await _batch(bot.url, noise, len(noise) if ctx.quick else 12, 0.4)
        stats = await bot.stats()
    table = Table(["speech", "detected", "median ms", "p95 ms", "p99 ms", "max ms"])
    lat = _latency_row(table, "synthetic voice", synthetic)
    if real:
        lat += _latency_row(table, "eSpeak NG phrases (3 pitches)", real)
    bot_view = [v for v in stats["barge_in_ms"] if v is not None]
    table.add("bot's own figure (VAD onset -> killAudio sent)", str(len(bot_view)), median(bot_view), p95(bot_view),
              percentile(bot_view, 99), max(bot_view, default=float("nan")))
    fig.tables.append(table)
    noise_table = Table(["noise clip", "killAudio"], caption="False triggers (bot speaking, caller makes a noise)")
    for t in noise:
        noise_table.add(t.clip.name, str(t.kills) if t.greeted else "no greeting")
    false_triggers = sum(t.kills for t in noise)
    fig.tables.append(noise_table)
    speech_trials = synthetic + real
    missed = sum(1 for t in speech_trials if t.greeted and t.latency_ms is None)
    fig.check(f"p95 <= {TARGET_MS:.0f} ms", f"p95 {p95(lat):.1f} ms over {len(lat)} barge-ins, {missed} missed",
              bool(lat) and p95(lat) <= TARGET_MS and missed == 0)
    fig.check("0 killAudio over the noise corpus",
              f"{false_triggers} killAudio over {len(noise)} clips ({sum(1 for t in noise if t.kills)} clips triggered)",
              false_triggers == 0 and all(t.greeted for t in noise))
    return fig
