"""A corpus for turn-taking: eSpeak phrases with pauses and hesitations inserted.

Each item is one caller turn, written as fragments with the pause after each one:
"I want to," (pause 300-900 ms) "uh," (pause) "check my order status." A fragment
that is not the end is written with a comma or no punctuation at all, which is how
eSpeak gives it a continuation (level or rising) melody or none, as callers do;
the last ends with "." or "?". Fragments are synthesised one by one and joined with
silence, so every pause has an exact length and the turn's true end is known to the
sample. Pauses are drawn from a seeded generator: two runs hear the same corpus.

Kinds: `complete` turns have no pause inside (the latency figure: how soon after the
caller stops does the bot answer); `paused` turns have 1-3 pauses of 300-900 ms
inside (the premature figure: does the bot answer inside one of them). Each is made
at 16 kHz and at 8 kHz through a phone line (300-3400 Hz band, G.711 mu-law), over a
-62 dBFS line hiss, in three eSpeak voices.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from bench.corpus import with_line_noise

COMPLETE = [
    "What are your opening hours?", "When are you open?", "What time do you close?", "Are you open on Sunday?",
    "How much does it cost?", "What are your prices?", "Do you have a price list?", "Where is my order?",
    "Has my order shipped?", "I want to check my order status.", "Track my order.", "Where are you located?",
    "What is your address?", "Can I speak to a person?", "I want to talk to an agent.", "Thank you, goodbye.",
    "Haan, what time do you close?", "Accha, where is my order?", "Theek hai, thank you.", "Yes.", "No.",
    "My order number is one two three four five.", "It is four five six seven.", "Hello.", "Good morning.",
    "Okay, thanks.",
]
PAUSED = [
    ["I want to,", "uh,", "check my order status."],
    ["My order number is", "four five six,", "seven eight nine."],
    ["My phone number is nine eight four five zero,", "one two three four five."],
    ["My mobile number is nine eight", "four five", "zero one two", "three four five."],
    ["Where is,", "my order?"],
    ["I am calling about,", "um,", "my order."],
    ["What time do you,", "close on Saturday?"],
    ["Haan,", "my order number is", "one two three four."],
    ["Accha,", "and what are your prices?"],
    ["I need to speak to,", "a person."],
    ["The number is nine eight seven,", "six five four."],
    ["Do you have,", "uh,", "a price list?"],
    ["Theek hai,", "aur", "what time do you close?"],
    ["I would like to know,", "your address."],
    ["I want to check my order, and", "the delivery date."],
    ["Um,", "how much does it cost?"],
    ["So my order,", "uh,", "has it shipped?"],
    ["Can you tell me the,", "opening hours?"],
]
VOICES = [("en-us", 165, 50), ("en", 175, 35), ("en-029", 155, 65)]
RATES = (16000, 8000)
LEAD_S = 0.3
TAIL_S = 1.8


@dataclass(frozen=True)
class Turn:
    """One caller turn: audio at `rate`, its fragments, and where each fragment's speech ends.

    `ends[i]`: seconds from the clip start to the end of fragment i's speech;
    `starts[i]`: to its start. The turn is over at `ends[-1]`.
    """

    name: str
    kind: str  # "complete" | "paused"
    rate: int
    voice: str
    fragments: tuple[str, ...]
    pauses_ms: tuple[int, ...]
    pcm: bytes
    starts: tuple[float, ...]
    ends: tuple[float, ...]

    @property
    def end(self) -> float:
        return self.ends[-1]

    def text_until(self, t: float) -> str:
        """What a recogniser could have said by time t: the fragments whose speech has ended."""
        return " ".join(f for f, e in zip(self.fragments, self.ends, strict=True) if e <= t + 1e-9)


def phone_line(pcm: bytes, rate: int) -> bytes:
    """What a PSTN leg does to narrowband audio: the 300-3400 Hz band and G.711 mu-law."""
    from voice.line.codec import TelephoneBand

    return TelephoneBand(rate, "ulaw").process(pcm)


def _trim(pcm: bytes, rate: int, threshold_dbfs: float = -45.0) -> bytes:
    """Cut eSpeak's leading/trailing near-silence so a fragment's audio is its speech."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    w = max(1, rate // 200)
    limit = 32768 * 10 ** (threshold_dbfs / 20)
    loud = [i for i in range(0, len(x) - w, w) if np.sqrt(np.mean(x[i : i + w] ** 2)) >= limit]
    if not loud:
        return b""
    return pcm[loud[0] * 2 : (loud[-1] + w) * 2]


async def _synth(text: str, rate: int, voice: tuple[str, int, int]) -> bytes:
    from voice.providers.local_tts import EspeakTTS

    name, wpm, pitch = voice
    tts = EspeakTTS(voice=name, rate_wpm=wpm, pitch=pitch)
    return _trim(b"".join([c async for c in tts.synthesize(text, sample_rate=rate)]), rate)


async def build_turn(name: str, kind: str, fragments: list[str], pauses_ms: list[int], rate: int,
                     voice: tuple[str, int, int]) -> Turn:
    parts = [await _synth(f, 16000, voice) for f in fragments]
    pcm = bytes(int(16000 * LEAD_S) * 2)
    starts: list[float] = []
    ends: list[float] = []
    for i, part in enumerate(parts):
        starts.append(len(pcm) / 2 / 16000)
        pcm += part
        ends.append(len(pcm) / 2 / 16000)
        if i < len(pauses_ms):
            pcm += bytes(int(16 * pauses_ms[i]) * 2)
    pcm += bytes(int(16000 * TAIL_S) * 2)
    if rate != 16000:
        from voice.audio import resample

        pcm = phone_line(resample(pcm, 16000, rate), rate)
    pcm = with_line_noise(pcm, rate)
    return Turn(name, kind, rate, voice[0], tuple(fragments), tuple(pauses_ms), pcm, tuple(starts), tuple(ends))


async def build(*, quick: bool = False, seed: int = 5, rates: tuple[int, ...] = RATES,
                voices: list[tuple[str, int, int]] | None = None,
                complete: list[str] | None = None, paused: list[list[str]] | None = None) -> list[Turn]:
    """The corpus: every complete and paused turn x voice x rate (quick: one voice, fewer turns)."""
    rng = np.random.default_rng(seed)
    voices = voices if voices is not None else (VOICES[:1] if quick else VOICES)
    complete = complete if complete is not None else (COMPLETE[::2] if quick else COMPLETE)
    paused = paused if paused is not None else PAUSED
    turns: list[Turn] = []
    for voice in voices:
        for rate in rates:
            for text in complete:
                turns.append(await build_turn(text, "complete", [text], [], rate, voice))
            for frags in paused:
                pauses = [int(rng.uniform(300, 900)) for _ in frags[:-1]]
                turns.append(await build_turn(" / ".join(frags), "paused", frags, pauses, rate, voice))
    return turns


def build_sync(**kw: object) -> list[Turn]:
    return asyncio.run(build(**kw))  # type: ignore[arg-type]
