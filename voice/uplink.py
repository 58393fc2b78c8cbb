"""The caller's audio on its way in: echo removed, then voice activity, then the STT.

One object per call that the session feeds with every uplink frame and every chunk it
plays. It owns the order of the stages (echo canceller before the VAD and before the
STT, so a barge-in is decided on speech the echo does not explain, and the recogniser
never hears the bot) and the bookkeeping that keeps them on one timeline:

- the canceller is told what played when (`play`, from the Speaker's tap) and where a
  killAudio cut it (`cut`);
- the VAD dates frames from their position in the uplink's sample stream, anchored to
  the earliest arrival, not from each frame's arrival time: a burst of five frames after
  a 100 ms network stall is five consecutive 20 ms frames of speech, not five frames at
  one instant (which would put onsets and speech ends, and so the turn timing, up to the
  stall's length late or early);
- the byte rate is checked against the configured rate (`RateCheck`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.echo import EchoCanceller
from voice.echo.farend import UplinkClock
from voice.ratecheck import RateCheck, RateMismatch
from voice.vad import VadConfig, VadEvent, VoiceActivityDetector


@dataclass(frozen=True, slots=True)
class UplinkOptions:
    echo_cancel: bool = True
    vad: VadConfig = field(default_factory=VadConfig)


@dataclass(slots=True)
class UplinkResult:
    clean: bytes  # the uplink with the echo removed: what the STT and the recording get
    events: list[VadEvent]
    rate_mismatch: RateMismatch | None = None


class Uplink:
    def __init__(self, rate: int, origin: float, options: UplinkOptions | None = None) -> None:
        self.options = opts = options or UplinkOptions()
        self.rate = rate
        self.clock = UplinkClock(rate, origin)
        self.aec = EchoCanceller(rate, origin, clock=self.clock) if opts.echo_cancel else None
        self.vad = VoiceActivityDetector(rate, opts.vad)
        self.rate_check = RateCheck(rate)

    def play(self, pcm: bytes, start: float) -> None:
        if self.aec is not None:
            self.aec.play(pcm, start)

    def cut(self, at: float) -> None:
        if self.aec is not None:
            self.aec.cut(at)

    def push(self, pcm: bytes, now: float) -> UplinkResult:
        mismatch = self.rate_check.push(len(pcm), now)
        self.clock.arrived(len(pcm) // 2, now)
        clean = self.aec.process(pcm) if self.aec is not None else pcm
        held = self.aec.pending_s if self.aec is not None else 0.0
        events = self.vad.push(clean, self.clock.stream_time() - held) if clean else []
        return UplinkResult(clean, events, mismatch)
