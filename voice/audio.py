"""PCM helpers shared by the bot, the providers and the Stream Node emulator.

All audio in this package is mono pcm_s16le. Resampling happens once at each edge,
with one stateful `Resampler` per direction per call, so chunk boundaries never
click (a stateless resample of each chunk would).
"""

from __future__ import annotations

import math

import numpy as np
import soxr


def bytes_per_ms(sample_rate: int) -> float:
    return sample_rate * 2 / 1000


def chunk_bytes(sample_rate: int, ms: float) -> int:
    """Whole 16-bit samples covering `ms` milliseconds."""
    return max(2, int(sample_rate * ms / 1000) * 2)


def duration_ms(pcm_len: int, sample_rate: int) -> float:
    return pcm_len / 2 / sample_rate * 1000


class Resampler:
    """Streaming mono int16 resampler (soxr); feed chunks in order, flush at the end."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._identity = in_rate == out_rate
        self._stream = None if self._identity else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
        self._odd = b""

    def process(self, pcm: bytes, *, last: bool = False) -> bytes:
        data = self._odd + pcm
        if len(data) % 2:
            self._odd, data = data[-1:], data[:-1]
        else:
            self._odd = b""
        if self._identity:
            return data
        assert self._stream is not None
        samples = np.frombuffer(data, dtype=np.int16)
        return self._stream.resample_chunk(samples, last=last).tobytes()

    def flush(self) -> bytes:
        return self.process(b"", last=True)


def resample(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """One-shot resample of a whole buffer (pre-rendered prompts, test fixtures)."""
    if in_rate == out_rate:
        return pcm[: len(pcm) - len(pcm) % 2]
    r = Resampler(in_rate, out_rate)
    return r.process(pcm, last=True)


class Framer:
    """Cuts a byte stream into fixed-size frames, keeping the remainder for next time."""

    def __init__(self, frame_bytes: int) -> None:
        if frame_bytes <= 0 or frame_bytes % 2:
            raise ValueError("frame size must be a positive even number of bytes")
        self.frame_bytes = frame_bytes
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        self._buf += data
        n = len(self._buf) // self.frame_bytes
        out = [bytes(self._buf[i * self.frame_bytes : (i + 1) * self.frame_bytes]) for i in range(n)]
        del self._buf[: n * self.frame_bytes]
        return out

    def remainder(self) -> bytes:
        rest, self._buf = bytes(self._buf), bytearray()
        return rest

    def __len__(self) -> int:
        return len(self._buf)


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of a chunk in dBFS (-inf for silence); used for level meters and VAD gating."""
    if len(pcm) < 2:
        return -math.inf
    # two numpy calls (it runs on every uplink frame: numpy's per-call cost dominates at 160-320 samples)
    samples = np.frombuffer(pcm, dtype=np.int16, count=len(pcm) // 2).astype(np.float32)
    mean_square = float(np.dot(samples, samples)) / len(samples)
    return -math.inf if mean_square < 1 else 10 * math.log10(mean_square / 1073741824.0)


def silence(sample_rate: int, ms: float) -> bytes:
    return bytes(chunk_bytes(sample_rate, ms))


def mix(a: bytes, b: bytes) -> bytes:
    """Sum two int16 streams (the shorter padded with silence), clipped; for listening."""
    n = max(len(a), len(b)) // 2
    x = np.zeros(n, dtype=np.int32)
    if a:
        av = np.frombuffer(a[: len(a) - len(a) % 2], dtype=np.int16)
        x[: len(av)] += av
    if b:
        bv = np.frombuffer(b[: len(b) - len(b) % 2], dtype=np.int16)
        x[: len(bv)] += bv
    return np.clip(x, -32768, 32767).astype(np.int16).tobytes()
