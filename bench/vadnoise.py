"""Speech onsets in broadband noise: our VAD beside Silero VAD, offline (no sockets).

Corpus: eSpeak NG phrases in five pitches at 8 kHz (the narrowband case is the hard one),
each after 1 s of white noise, mixed at a given SNR (speech RMS over its voiced part
against the noise's RMS). An onset counts as found when the detector confirms speech
between 50 ms before the true onset and 600 ms after it; a confirmation earlier than that
is a false trigger on the noise. Silero VAD (the model pipecat and LiveKit use) is the
reference where it is installed: its ONNX file from the `silero-vad` wheel, run with
onnxruntime, with pipecat's default decision (confidence 0.7 held for 200 ms); `make bench`
installs both into the bench's environment only (the bot never imports them).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voice.vad import SpeechStart, VoiceActivityDetector

PHRASES = ["What are your opening hours?", "I want to speak to a person.", "How much does it cost?",
           "Where is my order?", "No, wait.", "Can you hear me?"]
PITCHES = (20, 35, 50, 65, 80)
LEAD_S = 1.0
TAIL_S = 0.6
FRAME_S = 0.02


@dataclass(frozen=True)
class Phrase:
    pcm: np.ndarray  # float64 samples
    onset_s: float
    rms: float


async def _synth(text: str, rate: int, pitch: int) -> np.ndarray:
    from voice.providers.local_tts import EspeakTTS

    pcm = b"".join([p async for p in EspeakTTS(pitch=pitch).synthesize(text, sample_rate=rate)])
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float64)


def phrases(rate: int, count: int) -> list[Phrase]:
    return asyncio.run(phrases_async(rate, count))


async def phrases_async(rate: int, count: int) -> list[Phrase]:
    out = []
    for i in range(count):
        x = await _synth(PHRASES[i % len(PHRASES)], rate, PITCHES[(i // len(PHRASES)) % len(PITCHES)])
        w = rate // 100
        frames = x[: len(x) - len(x) % w].reshape(-1, w)
        level = np.sqrt(np.mean(frames**2, axis=1))
        active = level > 32768 * 10 ** (-40 / 20)
        onset = int(np.argmax(active)) * w / rate
        rms = float(np.sqrt(np.mean(frames[active] ** 2)))
        out.append(Phrase(x, onset, rms))
    return out


def mix(p: Phrase, rate: int, snr_db: float | None, seed: int, level_dbfs: float = -26.0) -> tuple[bytes, float]:
    """The phrase at `level_dbfs` (voiced RMS) after LEAD_S of noise at `snr_db` (None: a -62 dBFS hiss)."""
    gain = 32768 * 10 ** (level_dbfs / 20) / p.rms
    x = np.concatenate((np.zeros(int(rate * LEAD_S)), p.pcm * gain, np.zeros(int(rate * TAIL_S))))
    rng = np.random.default_rng(seed)
    noise_rms = 32768 * 10 ** ((level_dbfs - snr_db) / 20) if snr_db is not None else 32768 * 10 ** (-62 / 20)
    x = x + rng.standard_normal(len(x)) * noise_rms
    return np.clip(np.round(x), -32768, 32767).astype(np.int16).tobytes(), LEAD_S + p.onset_s


Detector = Callable[[bytes, int], list[float]]  # pcm -> confirmation instants (s from start)


def ours(pcm: bytes, rate: int) -> list[float]:
    vad = VoiceActivityDetector(rate)
    n = int(rate * FRAME_S) * 2
    out = []
    for k in range(0, len(pcm), n):
        for ev in vad.push(pcm[k : k + n], (k + n) / 2 / rate):
            if isinstance(ev, SpeechStart):
                out.append(ev.confirmed)
    return out


class Silero:
    """The Silero VAD ONNX model, as pipecat drives it (confidence 0.7 for 0.2 s)."""

    def __init__(self, confidence: float = 0.7, start_s: float = 0.2) -> None:
        import onnxruntime

        path = next(f for f in importlib.metadata.files("silero-vad") or [] if f.name == "silero_vad.onnx")
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = opts.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path.locate()), providers=["CPUExecutionProvider"], sess_options=opts)
        self.confidence = confidence
        self.start_s = start_s

    def __call__(self, pcm: bytes, rate: int) -> list[float]:
        x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
        win, ctx_n = (512, 64) if rate == 16000 else (256, 32)
        state: np.ndarray = np.zeros((2, 1, 128), dtype=np.float32)
        ctx: np.ndarray = np.zeros((1, ctx_n), dtype=np.float32)
        sr = np.array(rate, dtype=np.int64)
        need = math.ceil(self.start_s * rate / win)
        run, out, speaking = 0, [], False
        for i in range(0, len(x) - win + 1, win):
            chunk = np.concatenate((ctx, x[i : i + win][None, :]), axis=1)
            prob, state = self.session.run(None, {"input": chunk, "state": state, "sr": sr})
            ctx = chunk[:, -ctx_n:]
            if float(prob[0][0]) >= self.confidence:
                run += 1
                if run >= need and not speaking:
                    speaking = True
                    out.append((i + win) / rate)
            else:
                run = 0
                speaking = False
        return out


def silero() -> Silero | None:
    try:
        return Silero()
    except (ImportError, StopIteration, importlib.metadata.PackageNotFoundError, OSError):
        return None


@dataclass
class Score:
    found: int = 0
    total: int = 0
    false: int = 0
    latency_ms: list[float] | None = None


def score(detector: Detector, clips: list[tuple[bytes, float]], rate: int) -> Score:
    s = Score(latency_ms=[])
    for pcm, onset in clips:
        s.total += 1
        times = detector(pcm, rate)
        early = [t for t in times if t < onset - 0.05]
        hit = [t for t in times if onset - 0.05 <= t <= onset + 0.6]
        s.false += len(early)
        if hit:
            s.found += 1
            assert s.latency_ms is not None
            s.latency_ms.append((hit[0] - onset) * 1000)
    return s
