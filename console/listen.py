"""Listening to a bot call: the caller and the bot, mixed, on the local speaker.

Caller audio arrives in real time (20 ms frames); the bot's audio arrives in bursts,
often faster than real time. So each side is buffered and the mix is drained at the
wall clock's pace: every `pump()` takes the elapsed time's worth of samples from both
buffers (the short side padded with silence), mixes them with `voice.audio.mix`, and
hands the result to a `voice.sound.Player`. A barge-in empties the bot's buffer, as
`killAudio` does on the phone. Buffers are bounded: a listener hears the present.

Without PortAudio or an output device `start()` returns the reason (one line) and the
console carries on without sound.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable

from voice.audio import Resampler, chunk_bytes, mix, rms_dbfs
from voice.sound import Player, SoundUnavailable

MAX_BUFFER_MS = 3000


class Mixer:
    """Two real-time-drained int16 buffers mixed into one stream."""

    def __init__(self, sample_rate: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.sample_rate = sample_rate
        self.clock = clock
        self._caller = bytearray()
        self._bot = bytearray()
        self._resamplers: dict[tuple[str, int], Resampler] = {}
        self._last = clock()
        self._limit = chunk_bytes(sample_rate, MAX_BUFFER_MS)
        self.level_dbfs = -math.inf

    def add(self, source: str, pcm: bytes, rate: int) -> None:
        if rate != self.sample_rate:
            key = (source, rate)
            if key not in self._resamplers:
                self._resamplers[key] = Resampler(rate, self.sample_rate)
            pcm = self._resamplers[key].process(pcm)
        buf = self._caller if source == "caller" else self._bot
        buf += pcm
        if len(buf) > self._limit:
            del buf[: len(buf) - self._limit]

    def clear_bot(self) -> None:
        self._bot.clear()

    def pump(self) -> bytes:
        """The mixed audio for the time elapsed since the last pump."""
        now = self.clock()
        elapsed_ms = min(500.0, max(0.0, (now - self._last) * 1000))
        self._last = now
        n = chunk_bytes(self.sample_rate, elapsed_ms) if elapsed_ms > 0 else 0
        if n <= 0 or (not self._caller and not self._bot):
            self.level_dbfs = -math.inf
            return b""
        a, b = bytes(self._caller[:n]), bytes(self._bot[:n])
        del self._caller[:n]
        del self._bot[:n]
        out = mix(a, b)
        self.level_dbfs = rms_dbfs(out)
        return out


class ListenSession:
    """One call being listened to: a Mixer feeding a Player."""

    def __init__(self, call_id: str, sample_rate: int, *, player: Player | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`clock` paces the mix (real time by default; a test gives its own)."""
        self.call_id = call_id
        self.sample_rate = sample_rate
        self.mixer = Mixer(sample_rate, clock=clock)
        self.player = player or Player(sample_rate, max_buffer_ms=1000)
        self.frames = 0
        self.bad_frames = 0

    def start(self) -> str | None:
        """Open the speaker; returns why it cannot be, or None."""
        try:
            self.player.start()
        except SoundUnavailable as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - sound is optional; never a crash
            return f"sound is unavailable: {exc}"
        return None

    def feed(self, event: object) -> None:
        """An AudioFrame from the bus: queue it; mix and play what is due."""
        if getattr(event, "call_id", None) != self.call_id:
            return
        try:
            pcm = base64.b64decode(getattr(event, "pcm_b64", ""), validate=True)
        except (binascii.Error, ValueError):
            self.bad_frames += 1
            return
        self.frames += 1
        self.mixer.add(getattr(event, "source", "caller"), pcm, int(getattr(event, "sample_rate", self.sample_rate)))
        self.pump()

    def pump(self) -> None:
        out = self.mixer.pump()
        if out:
            self.player.write(out)

    def barge_in(self, call_id: str) -> None:
        if call_id == self.call_id:
            self.mixer.clear_bot()
            self.player.clear()

    @property
    def level_dbfs(self) -> float:
        level = self.player.level_dbfs
        return level if not math.isinf(level) else self.mixer.level_dbfs

    def close(self) -> None:
        self.player.close()
