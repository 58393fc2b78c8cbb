"""G.711 (mu-law and A-law) and the 300-3400 Hz telephone band, in numpy.

Why here and not `audioop`: `audioop` is deprecated and gone from Python 3.13; the
codec is a pair of 256-entry tables and a vectorised segment search, so it costs nothing
to own. The encoders follow the ITU-T G.711 reference (Sun's g711.c): mu-law on the
14-bit magnitude with the 0x21 bias, A-law on the 13-bit magnitude; decoding is a table lookup.

`TelephoneBand` is the network leg a PSTN call crosses: band-limit to 300-3400 Hz (a
linear-phase FIR, stateful across frames), down to 8 kHz, G.711 encode/decode, and back up
to the stream's rate. Its own integer-ratio filters, not soxr: soxr's streaming resampler
releases output in bursts of ~50 ms, which would put a jittery delay on the simulated line.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Codec = Literal["linear", "ulaw", "alaw"]
NARROWBAND_RATE = 8000

_MU_BIAS = 0x84
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw_encode(x: np.ndarray) -> np.ndarray:
    v = x.astype(np.int32) >> 2  # 14-bit
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.where(v < 0, -v, v), 8159) + 0x21
    seg = np.searchsorted(_SEG_UEND, v, side="left")
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((v >> np.minimum(seg + 1, 8)) & 0x0F))
    return ((uval ^ mask) & 0xFF).astype(np.uint8)


def _ulaw_decode(u: np.ndarray) -> np.ndarray:
    u = ~u.astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mag = (((u & 0x0F) << 3) + _MU_BIAS) << exponent
    mag = mag - _MU_BIAS
    return np.where(u & 0x80, -mag, mag).astype(np.int16)


def _alaw_encode(x: np.ndarray) -> np.ndarray:
    v = x.astype(np.int32) >> 3
    mask = np.where(v >= 0, 0xD5, 0x55)
    v = np.where(v >= 0, v, -v - 1)
    seg = np.searchsorted(_SEG_END, v, side="left")
    low = np.where(seg < 2, (v >> 1) & 0x0F, (v >> np.maximum(seg, 1)) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, (seg << 4) | low)
    return ((aval ^ mask) & 0xFF).astype(np.uint8)


def _alaw_decode(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


# decode tables (256 codes) and encode tables (all 65536 int16 values), built once
_CODES = np.arange(256, dtype=np.uint8)
_ALL = np.arange(-32768, 32768, dtype=np.int32)
_DECODE = {"ulaw": _ulaw_decode(_CODES), "alaw": _alaw_decode(_CODES)}
_ENCODE = {"ulaw": _ulaw_encode(_ALL), "alaw": _alaw_encode(_ALL)}


def encode(samples: np.ndarray, codec: Codec) -> np.ndarray:
    """int16 samples -> G.711 bytes (uint8)."""
    return _ENCODE[codec][samples.astype(np.int32) + 32768]


def decode(codes: np.ndarray, codec: Codec) -> np.ndarray:
    """G.711 bytes (uint8) -> int16 samples."""
    return _DECODE[codec][codes]


def g711_roundtrip(samples: np.ndarray, codec: Codec) -> np.ndarray:
    """What survives a G.711 leg: int16 in, int16 out (identity for linear)."""
    if codec == "linear":
        return samples.astype(np.int16)
    return _DECODE[codec][_ENCODE[codec][samples.astype(np.int32) + 32768]]


def bandpass_taps(rate: int, low_hz: float = 300.0, high_hz: float = 3400.0, taps: int = 129) -> np.ndarray:
    """Linear-phase FIR band-pass (windowed sinc, Blackman), unity gain mid-band; `low_hz`
    0 makes it a low-pass. The PSTN's channel is 300-3400 Hz."""
    n = np.arange(taps) - (taps - 1) / 2

    def lowpass(fc: float) -> np.ndarray:
        return 2 * fc / rate * np.sinc(2 * fc / rate * n)

    h = (lowpass(high_hz) - (lowpass(low_hz) if low_hz > 0 else 0.0)) * np.blackman(taps)
    centre = (max(low_hz, 100.0) * high_hz) ** 0.5
    gain = abs(np.sum(h * np.exp(-2j * np.pi * centre / rate * np.arange(taps))))
    return h / gain


class StreamingFIR:
    """An FIR filter applied frame by frame, carrying its history across frames."""

    def __init__(self, taps: np.ndarray) -> None:
        self.taps = taps
        self._hist = np.zeros(len(taps) - 1)

    def process(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate((self._hist, x.astype(np.float64)))
        self._hist = buf[len(buf) - len(self._hist) :]
        return np.convolve(buf, self.taps, mode="valid")


class TelephoneBand:
    """The PSTN leg at the stream's rate R (a multiple of 8 kHz): band-limit (or, for
    G.711 without the band limit, only the anti-alias low-pass), then for G.711 keep every
    (R / 8000)th sample, encode and decode it, and interpolate back to R. Frames in, the
    same number of samples out; the filters add a fixed delay of a few ms."""

    def __init__(self, rate: int, codec: Codec, *, band_limit: bool = True) -> None:
        if rate % NARROWBAND_RATE:
            raise ValueError(f"the phone line simulator needs a multiple of 8 kHz, not {rate}")
        self.rate = rate
        self.codec: Codec = codec
        self.factor = rate // NARROWBAND_RATE
        taps = 64 * self.factor + 1
        self._shape = StreamingFIR(bandpass_taps(rate, 300.0 if band_limit else 0.0, 3400.0 if band_limit else 3800.0, taps))
        self._interp = StreamingFIR(bandpass_taps(rate, 0.0, 3800.0, taps) * self.factor) if self.factor > 1 else None
        self._phase = 0

    def process(self, pcm: bytes) -> bytes:
        x = self._shape.process(np.frombuffer(pcm, dtype=np.int16))
        if self.codec == "linear":
            return np.clip(np.round(x), -32768, 32767).astype(np.int16).tobytes()
        f = self.factor
        keep = np.zeros(len(x))
        first = (-self._phase) % f
        picked = x[first::f]
        keep[first::f] = g711_roundtrip(np.clip(np.round(picked), -32768, 32767), self.codec)
        self._phase = (self._phase + len(x)) % f
        y = self._interp.process(keep) if self._interp is not None else keep
        return np.clip(np.round(y), -32768, 32767).astype(np.int16).tobytes()
