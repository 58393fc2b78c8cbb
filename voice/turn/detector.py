"""TurnDetector: has the caller finished their turn, or only paused?

One per recognition stream. It is fed the caller's audio (any rate; 8 kHz mu-law
decoded to PCM works the same as 16 kHz), runs the project's VAD on it for
speech/silence, follows the pitch (`prosody.PitchTracker`), and is told the best
transcript of the turn so far (partial or final). `decide()` then answers, for the
current instant of the audio:

- IDLE: no speech in this turn yet; SPEAKING: the caller is talking;
- WAIT: a pause, not (yet) the end: the words or the melody say more is coming;
- LIKELY: a pause that is probably the end: worth starting the reply speculatively,
  but not worth speaking it yet;
- OVER: the turn is over: answer now.

The silence it waits for adapts between `min_silence_ms` and `max_silence_ms`: the
scorer's probability that the turn is complete (`model.TurnModel`) maps linearly onto
that range between `p_low` and `p_high`. "What are your opening hours?" with a falling
or question melody ends after the minimum; "I want to... uh..." or a half-read phone
number waits up to the maximum.

Time is audio time (seconds of audio pushed), not the wall clock: a phone line sends
audio continuously, silence included, so decisions need no timers and replay exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

import numpy as np

from voice.audio import Framer, Resampler
from voice.turn.lexical import TextCue, read_ending
from voice.turn.model import TurnModel, default_model
from voice.turn.prosody import FRAME, RATE, PitchTracker, ProsodyCue
from voice.vad import SpeechStart, VadConfig, VoiceActivityDetector


class TurnState(str, Enum):
    IDLE = "idle"
    SPEAKING = "speaking"
    WAIT = "wait"
    LIKELY = "likely"
    OVER = "over"


@dataclass(frozen=True, slots=True)
class TurnConfig:
    """How long to wait in a pause. `p_low`/`p_high`: completion probabilities mapped to
    max/min silence; `eager_ms` and `eager_p`: when a pause is LIKELY the end."""

    min_silence_ms: int = 200
    max_silence_ms: int = 1400
    p_low: float = 0.3
    p_high: float = 0.8
    eager_ms: int = 100
    eager_p: float = 0.6

    def __post_init__(self) -> None:
        if not 0 < self.min_silence_ms <= self.max_silence_ms:
            raise ValueError("need 0 < min_silence_ms <= max_silence_ms")
        if not 0.0 <= self.p_low < self.p_high <= 1.0:
            raise ValueError("need 0 <= p_low < p_high <= 1")

    def wait_ms(self, p: float) -> float:
        """Silence needed before a pause counts as the end, for completion probability p."""
        frac = (self.p_high - p) / (self.p_high - self.p_low)
        frac = min(1.0, max(0.0, frac))
        return self.min_silence_ms + frac * (self.max_silence_ms - self.min_silence_ms)


@dataclass(frozen=True, slots=True)
class TurnDecision:
    state: TurnState
    silence_ms: float = 0.0
    wait_ms: float = 0.0
    p_complete: float = 0.0
    text: TextCue | None = None
    prosody: ProsodyCue | None = None

    @property
    def over(self) -> bool:
        return self.state is TurnState.OVER


class TurnDetector:
    """End-of-turn decisions for one stream of caller audio. Not thread-safe: one owner."""

    def __init__(self, sample_rate: int, config: TurnConfig | None = None, model: TurnModel | None = None,
                 vad: VadConfig | None = None) -> None:
        self.config = config or TurnConfig()
        self.model = model or default_model()
        self.sample_rate = sample_rate
        self._resampler = Resampler(sample_rate, RATE, quality="QQ") if sample_rate != RATE else None
        self._framer = Framer(FRAME * 2)
        self._vad = VoiceActivityDetector(RATE, vad or VadConfig())
        self._pitch = PitchTracker()
        self.now = 0.0  # audio seconds pushed (at 8 kHz)
        self._speech_seen = False  # a confirmed onset in this turn
        self._last_speech_end: float | None = None
        self._text = ""
        self._scored: tuple[tuple[str, float | None], tuple[float, TextCue, ProsodyCue]] | None = None
        self.decide_us = 0.0  # cost of the last scoring, for the record

    # ---- inputs ----

    def push(self, pcm: bytes) -> None:
        """Caller audio (mono pcm_s16le at `sample_rate`), in order."""
        data = self._resampler.process(pcm) if self._resampler is not None else pcm
        for frame in self._framer.push(data):
            self.now += FRAME / RATE
            for ev in self._vad.push(frame, self.now):
                if isinstance(ev, SpeechStart):
                    self._speech_seen = True
            speech = self._vad.last_speech_end == self.now
            if speech:
                self._last_speech_end = self.now
            x = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
            self._pitch.push(x, speech=speech, end=self.now)

    def transcript(self, text: str) -> None:
        """The best transcript of the current turn so far (interim or final, whole turn)."""
        self._text = text

    def reset(self) -> None:
        """The turn was taken: start the next one (audio clock and VAD state carry on)."""
        self._speech_seen = self._vad.in_speech  # a caller still talking is already in the next turn
        self._text = ""
        self._scored = None
        self._pitch.reset()

    # ---- output ----

    @property
    def text(self) -> str:
        return self._text

    @property
    def last_speech_end(self) -> float | None:
        """Audio time of the end of the last speech frame (None before any)."""
        return self._last_speech_end

    @property
    def in_speech(self) -> bool:
        return self._vad.in_speech

    @property
    def silence_ms(self) -> float:
        if self._last_speech_end is None:
            return 0.0
        return (self.now - self._last_speech_end) * 1000

    def p_complete(self) -> tuple[float, TextCue, ProsodyCue]:
        """P(the turn is over) from the words and the melody before the current pause.

        Cached per (transcript, last speech frame): during a pause neither changes, so
        each 20 ms of silence costs a comparison, not a rescoring."""
        key = (self._text, self._last_speech_end)
        if self._scored is not None and self._scored[0] == key:
            return self._scored[1]
        started = time.perf_counter()
        text = read_ending(self._text)
        prosody = self._pitch.cue()
        result = (self.model.score(text, prosody), text, prosody)
        self.decide_us = (time.perf_counter() - started) * 1e6
        self._scored = (key, result)
        return result

    def decide(self) -> TurnDecision:
        if not (self._speech_seen or (self._text and self._last_speech_end is not None)):
            return TurnDecision(TurnState.IDLE)
        silence = self.silence_ms
        if silence < FRAME / RATE * 1000 * 1.5:
            return TurnDecision(TurnState.SPEAKING)
        p, text, prosody = self.p_complete()
        wait = self.config.wait_ms(p)
        if silence >= wait:
            state = TurnState.OVER
        elif silence >= self.config.eager_ms and p >= self.config.eager_p:
            state = TurnState.LIKELY
        else:
            state = TurnState.WAIT
        return TurnDecision(state, silence, wait, p, text, prosody)
