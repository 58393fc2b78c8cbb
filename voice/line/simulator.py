"""A phone line in software: what the Stream Node would send if a real caller were there.

`PhoneLine.frame(voice, played)` turns one frame of the caller's own voice, and what the
caller's speaker played during that frame (the bot's audio, as `Playout` models the
Stream Node playing it), into the frame the bot receives:

1. acoustic echo: the played audio through a short room response (a few ms of decaying
   reflections), delayed by the echo delay and attenuated by the echo loss; when the spec
   says so the delay steps within +-`drift` every few seconds (a jitter buffer or the
   carrier re-adjusting) and the loss glides within +-`vary` (the phone moving);
2. the caller's room: white noise and babble (several synthetic talkers) mixed in;
3. the network leg: 8 kHz, 300-3400 Hz, G.711 (`TelephoneBand`), packet loss concealed
   as silence.

`JitterShaper` then says when each frame reaches the bot: on time, or held (a network
stall) and released in a burst with the ones behind it. Every random choice comes from
the spec's seed, so a line replays exactly.
"""

from __future__ import annotations

import math

import numpy as np

from voice.line.codec import TelephoneBand
from voice.line.spec import LineSpec

FULL_SCALE = 32768.0


def _db_to_amp(db: float) -> float:
    return 10 ** (db / 20)


class Playout:
    """The Stream Node's speaker: playAudio chunks queue and play back to back in real
    time; killAudio empties the queue. `pull(n)` is what played during the next n samples.

    Positions are sample counts on the caller's own clock (`played_samples` so far). A
    chunk given `at` (the sample its arrival falls on) starts no earlier than that: a
    reply that arrives while the speaker is idle starts where it arrived, not wherever
    the next pull happens to be; one that arrives while audio is queued plays after it.
    """

    def __init__(self) -> None:
        self._queue = bytearray()
        self.played_samples = 0

    def push(self, pcm: bytes, at: int | None = None) -> None:
        if at is not None:
            idle = at - self.played_samples - len(self._queue) // 2
            if idle > 0:
                self._queue += bytes(2 * idle)
        self._queue += pcm[: len(pcm) - len(pcm) % 2]

    def kill(self, at: int | None = None) -> None:
        """Empty the queue; with `at`, what plays before that sample still plays."""
        keep = 0 if at is None else max(0, at - self.played_samples)
        del self._queue[2 * keep :]

    def busy(self) -> bool:
        return bool(self._queue)

    def pull(self, samples: int) -> bytes:
        n = 2 * samples
        out = bytes(self._queue[:n])
        del self._queue[:n]
        self.played_samples += samples
        return out + bytes(n - len(out))


def room_response(rate: int, rng: np.random.Generator, ms: float = 6.0) -> np.ndarray:
    """A loudspeaker-to-microphone path: the direct sound, then decaying reflections."""
    n = max(1, int(rate * ms / 1000))
    h = rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 4)) * 0.35
    h[0] = 1.0
    return h / math.sqrt(float(np.sum(h * h)))


def babble(rate: int, seconds: float, rng: np.random.Generator, talkers: int = 6) -> np.ndarray:
    """Background talkers: voiced harmonics under moving formants, syllable-rate bursts,
    unit RMS. Speech-like in spectrum and rhythm, but no one word stands out."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    out = np.zeros(n)
    for _ in range(talkers):
        f0 = rng.uniform(95, 230) * (1 + 0.06 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 6)))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        f1 = rng.uniform(450, 800) + 150 * np.sin(2 * np.pi * rng.uniform(1, 4) * t)
        f2 = rng.uniform(1100, 1900) + 300 * np.sin(2 * np.pi * rng.uniform(1, 4) * t)
        x = np.zeros(n)
        for k in range(1, 30):
            fk = k * f0
            gain = np.exp(-(((fk - f1) / 150) ** 2)) + 0.6 * np.exp(-(((fk - f2) / 250) ** 2)) + 0.02
            x += np.where(fk < rate / 2 * 0.9, gain, 0.0) * np.sin(k * phase) / math.sqrt(k)
        rate_hz = rng.uniform(3, 5)
        env = np.clip(np.sin(2 * np.pi * rate_hz * t + rng.uniform(0, 6)), 0, None) ** 0.7
        out += x * env
    rms = float(np.sqrt(np.mean(out * out))) or 1.0
    return out / rms


class _Wander:
    """A bounded random walk in [-1, 1]: glides toward a new target at `speed` full
    scales a second; with `jumps` it instead steps there now and then (`every_s` on average)."""

    def __init__(self, rng: np.random.Generator, *, speed: float = 0.4, jumps: bool = False, every_s: float = 2.5) -> None:
        self._rng = rng
        self.value = 0.0
        self._target = 0.0
        self._speed = speed
        self._jumps = jumps
        self._every = every_s

    def step(self, dt: float) -> float:
        if self._jumps:
            if self._rng.uniform() < dt / self._every:
                self.value = float(self._rng.uniform(-1, 1))
            return self.value
        if abs(self.value - self._target) < 0.05:
            self._target = float(self._rng.uniform(-1, 1))
        step = self._speed * dt
        self.value += max(-step, min(step, self._target - self.value))
        return self.value


class PhoneLine:
    """One call's line, frame by frame, at the stream's rate."""

    def __init__(self, spec: LineSpec, rate: int) -> None:
        self.spec = spec
        self.rate = rate
        rng = np.random.default_rng(spec.seed)
        self._rng = rng
        self._room = room_response(rate, rng)
        max_delay_ms = spec.echo_delay_ms + spec.echo_drift_ms + 20
        self._hist = np.zeros(int(rate * max_delay_ms / 1000) + len(self._room) + 8)
        # the echo delay of a real call moves in steps (a jitter buffer or the carrier's
        # canceller re-adjusting) and hardly in between (clock skew is ~0.01%); the echo's
        # level glides as the phone moves against the face or on the table
        self._delay_wander = _Wander(rng, jumps=True)
        self._gain_wander = _Wander(rng, speed=0.4)
        narrow = spec.band or spec.codec != "linear"
        self._network = TelephoneBand(rate, spec.codec, band_limit=spec.band) if narrow else None
        self._babble = babble(rate, 6.0, rng) if spec.babble_dbfs is not None else None
        self._babble_pos = 0
        self.samples = 0
        self.echo_delay_ms = spec.echo_delay_ms
        self.echo_loss_db = spec.echo_loss_db
        self.frames_lost = 0

    def frame(self, voice: bytes, played: bytes) -> bytes:
        """One frame: the caller's voice and what their speaker played in that time
        (same length, int16 at the stream rate) -> what the Stream Node sends."""
        n = len(voice) // 2
        spec = self.spec
        x = np.frombuffer(voice[: 2 * n], dtype=np.int16).astype(np.float64)
        dt = n / self.rate
        if spec.echo_loss_db is not None:
            far = np.frombuffer(played[: 2 * n], dtype=np.int16).astype(np.float64)
            if len(far) < n:
                far = np.concatenate((far, np.zeros(n - len(far))))
            x = x + self._echo(far, dt)
        if spec.noise_dbfs is not None:
            x = x + self._rng.standard_normal(n) * FULL_SCALE * _db_to_amp(spec.noise_dbfs)
        if self._babble is not None and spec.babble_dbfs is not None:
            idx = (np.arange(n) + self._babble_pos) % len(self._babble)
            self._babble_pos = (self._babble_pos + n) % len(self._babble)
            x = x + self._babble[idx] * FULL_SCALE * _db_to_amp(spec.babble_dbfs)
        self.samples += n
        pcm = np.clip(np.round(x), -32768, 32767).astype(np.int16).tobytes()
        if self._network is not None:
            pcm = self._network.process(pcm)
        if spec.loss_pct and self._rng.uniform(0, 100) < spec.loss_pct:
            self.frames_lost += 1
            return bytes(len(pcm))
        return pcm

    def _echo(self, far: np.ndarray, dt: float) -> np.ndarray:
        spec = self.spec
        assert spec.echo_loss_db is not None
        delay_ms = spec.echo_delay_ms + spec.echo_drift_ms * self._delay_wander.step(dt)
        loss_db = spec.echo_loss_db + spec.echo_vary_db * self._gain_wander.step(dt)
        self.echo_delay_ms, self.echo_loss_db = max(0.0, delay_ms), max(0.0, loss_db)
        n = len(far)
        hist = np.concatenate((self._hist, far))
        self._hist = hist[n:]
        d = int(round(self.echo_delay_ms * self.rate / 1000))
        taps = len(self._room)
        end = len(hist) - d
        seg = hist[end - n - taps + 1 : end]
        shaped = np.convolve(seg, self._room, mode="valid")
        return shaped * _db_to_amp(-self.echo_loss_db)


class JitterShaper:
    """When each frame reaches the bot. With jitter J, the network stalls now and then
    (about once a second) for up to J; the frames behind a stall arrive together when it
    clears, so a 60 ms jitter gives gaps of up to 60 ms and bursts of up to 4 frames."""

    def __init__(self, jitter_ms: float, seed: int = 1, stalls_per_s: float = 1.0) -> None:
        self.jitter_s = jitter_ms / 1000
        self._rng = np.random.default_rng(seed + 7919)
        self._stalls_per_s = stalls_per_s
        self._hold_until = -math.inf
        self._last = -math.inf
        self.bursts = 0

    def release_at(self, due: float, frame_s: float) -> float:
        """The instant a frame finished at `due` (`frame_s` long) reaches the bot."""
        if self.jitter_s <= 0:
            return due
        if due >= self._hold_until and self._rng.uniform() < self._stalls_per_s * frame_s:
            self._hold_until = due + float(self._rng.uniform(0.5, 1.0)) * self.jitter_s
            self.bursts += 1
        at = max(self._hold_until if due < self._hold_until else due, self._last)
        self._last = at
        return at
