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
- the byte rate is checked against the configured rate (`RateCheck`);
- transcripts are checked against what the bot was saying when they were spoken
  (`EchoTextGuard`), when the line carried sound but no speech the echo does not
  explain: the recogniser heard a residue of the echo (its own endpointer is more
  sensitive than the VAD), so its words are the bot's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.audio import rms_dbfs
from voice.echo import EchoCanceller
from voice.echo.farend import UplinkClock
from voice.echo.guard import EchoTextGuard
from voice.playback import Utterance
from voice.ratecheck import RateCheck, RateMismatch
from voice.vad import SpeechStart, VadConfig, VadEvent, VoiceActivityDetector

SOUND_DBFS = -55.0  # an uplink frame above this carries sound (a voice, or an echo of one)
ECHO_TRANSCRIPT_AGE_S = 3.0  # a transcript can come from sound this old (recogniser latency)


@dataclass(frozen=True, slots=True)
class UplinkOptions:
    echo_cancel: bool = True
    echo_guard: bool = True
    lead_s: float = 0.8  # how far ahead of the caller's playback the bot sends (the Speaker's lead)
    vad: VadConfig = field(default_factory=VadConfig)


@dataclass(slots=True)
class UplinkResult:
    clean: bytes  # the uplink with the echo removed: what the STT and the recording get
    events: list[VadEvent]
    rate_mismatch: RateMismatch | None = None
    echo_delay_ms: float | None = None  # set when the echo's delay was found or moved


class Uplink:
    def __init__(self, rate: int, origin: float, options: UplinkOptions | None = None) -> None:
        self.options = opts = options or UplinkOptions()
        self.rate = rate
        self.clock = UplinkClock(rate, origin)
        self.aec = EchoCanceller(rate, origin, clock=self.clock, lead_s=opts.lead_s) if opts.echo_cancel else None
        self.vad = VoiceActivityDetector(rate, opts.vad)
        self.rate_check = RateCheck(rate, origin=origin)
        self.guard = EchoTextGuard() if opts.echo_guard else None
        self._onset: float | None = None
        self._last_sound: float | None = None  # when the uplink last carried sound (echo included)
        self._voice_until: float | None = None  # when the VAD last had the caller speaking
        self._delay_updates = 0

    def play(self, pcm: bytes, start: float) -> None:
        """A chunk sent to the caller, starting to play at `start` (the Speaker's tap)."""
        if self.aec is not None:
            self.aec.play(pcm, start)

    def speaking(self, utterance: Utterance) -> None:
        """The bot started saying `utterance` (its chunks fill in as they are sent)."""
        if self.guard is not None:
            self.guard.track(utterance)

    def cut(self, at: float) -> None:
        """killAudio at `at`: nothing queued after it reaches the caller's speaker."""
        if self.aec is not None:
            self.aec.cut(at)
        if self.guard is not None:
            self.guard.cut(at)

    def is_echo(self, transcript: str, now: float) -> bool:
        """Is this transcript the bot's own words, heard back while it said them?"""
        if self.guard is None or self._last_sound is None or now - self._last_sound > ECHO_TRANSCRIPT_AGE_S:
            return False  # nothing came up the line lately: whatever was recognised, it was no echo
        if self.vad.in_speech or (self._voice_until is not None and now - self._voice_until < ECHO_TRANSCRIPT_AGE_S):
            return False  # the caller spoke (speech the echo does not explain): the words are theirs
        start = self._onset if self.vad.in_speech else None
        return self.guard.check(transcript, speech_start=start, now=now).echo

    def push(self, pcm: bytes, now: float) -> UplinkResult:
        mismatch = self.rate_check.push(len(pcm), now)
        self.clock.arrived(len(pcm) // 2, now)
        clean = self.aec.process(pcm) if self.aec is not None else pcm
        held = self.aec.pending_s if self.aec is not None else 0.0
        moved = None
        if self.aec is not None and self.aec.delay.updates != self._delay_updates:
            self._delay_updates = self.aec.delay.updates
            moved = self.aec.delay.delay_ms
        events = self.vad.push(clean, self.clock.stream_time() - held) if clean else []
        # the uplink's own level, echo included: the VAD measured it already when it took this
        # very frame untouched (the canceller passed it through, and no resampling or buffering)
        level = self.vad.last_level_dbfs if self.vad.last_whole_frame is pcm else rms_dbfs(pcm)
        if level > SOUND_DBFS:
            self._last_sound = now
        for ev in events:
            if isinstance(ev, SpeechStart):
                self._onset = ev.onset
            else:
                self._voice_until = ev.end
        return UplinkResult(clean, events, mismatch, moved)
