"""A position on a recorded call's timeline: play, pause, step, seek, 1x-10x.

The cursor is driven by a monotonic clock: while playing, the position advances by the
elapsed time times the speed, and stops (paused) at the end. `step` moves to the next or
previous moment something happened (an event), so a developer can walk a call one event
at a time. `ReplayAudio` cuts the audio of a stretch of the timeline, both sides mixed
or one side alone, for a speaker.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from typing import Literal

from voice.audio import mix
from voice.replay.load import Recording

SPEEDS = (1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
MIN_SPEED, MAX_SPEED = 1.0, 10.0
MIN_STEP_S = 0.05
AudioSide = Literal["off", "mixed", "caller", "bot"]
AUDIO_SIDES: tuple[AudioSide, ...] = ("mixed", "caller", "bot", "off")


class ReplayCursor:
    def __init__(self, duration_s: float, marks: Sequence[float] = (), *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.duration = max(0.0, duration_s)
        self.marks: list[float] = []
        for m in sorted(m for m in marks if 0.0 < m <= self.duration):
            if m - (self.marks[-1] if self.marks else 0.0) >= MIN_STEP_S:  # one instant is one step
                self.marks.append(m)
        self.clock = clock
        self.speed = 1.0
        self.playing = False
        self._position = 0.0
        self._since = clock()

    @property
    def position(self) -> float:
        if self.playing:
            now = self.clock()
            self._position = min(self.duration, self._position + (now - self._since) * self.speed)
            self._since = now
            if self._position >= self.duration:
                self.playing = False
        return self._position

    @property
    def at_end(self) -> bool:
        return self.position >= self.duration

    def play(self) -> None:
        if self.at_end:
            self._position = 0.0
        self._since = self.clock()
        self.playing = True

    def pause(self) -> None:
        _ = self.position  # bank the time played so far
        self.playing = False

    def toggle(self) -> bool:
        """Play <-> pause; returns True if now playing."""
        if self.playing:
            self.pause()
        else:
            self.play()
        return self.playing

    def seek(self, seconds: float) -> float:
        _ = self.position
        self._position = min(self.duration, max(0.0, seconds))
        self._since = self.clock()
        return self._position

    def jump(self, delta_s: float) -> float:
        return self.seek(self.position + delta_s)

    def step(self, direction: int) -> float:
        """Pause and move to the next (direction > 0) or previous event mark."""
        here = self.position
        self.pause()
        if direction > 0:
            i = bisect.bisect_right(self.marks, here + 1e-6)
            target = self.marks[i] if i < len(self.marks) else self.duration
        else:
            i = bisect.bisect_left(self.marks, here - 1e-6)
            target = self.marks[i - 1] if i > 0 else 0.0
        return self.seek(target)

    def set_speed(self, speed: float) -> float:
        _ = self.position
        self.speed = min(MAX_SPEED, max(MIN_SPEED, speed))
        return self.speed

    def faster(self) -> float:
        return self.set_speed(next((s for s in SPEEDS if s > self.speed + 1e-9), MAX_SPEED))

    def slower(self) -> float:
        return self.set_speed(next((s for s in reversed(SPEEDS) if s < self.speed - 1e-9), MIN_SPEED))


class ReplayAudio:
    """The recording's audio between two positions: caller, bot, or both mixed."""

    def __init__(self, rec: Recording) -> None:
        self.rate = rec.sample_rate
        self._caller = rec.caller.pcm if rec.caller is not None and rec.caller.rate == self.rate else b""
        self._bot = rec.bot.pcm if rec.bot is not None and rec.bot.rate == self.rate else b""

    @property
    def sides(self) -> tuple[AudioSide, ...]:
        """The choices that make sense for this recording."""
        have = [s for s, pcm in (("caller", self._caller), ("bot", self._bot)) if pcm]
        out: list[AudioSide] = ["mixed"] if len(have) == 2 else []
        out.extend(have)  # type: ignore[arg-type]
        out.append("off")
        return tuple(out)

    def between(self, start_s: float, end_s: float, side: AudioSide) -> bytes:
        a, b = max(0, int(start_s * self.rate)) * 2, max(0, int(end_s * self.rate)) * 2
        if b <= a or side == "off":
            return b""
        want = b - a
        if side == "mixed":
            pcm = mix(self._caller[a:b], self._bot[a:b])
        else:
            pcm = (self._caller if side == "caller" else self._bot)[a:b]
        return pcm + bytes(want - len(pcm))
