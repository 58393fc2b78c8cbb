"""Utterance segmentation for recognisers that do not find the end of speech themselves.

pocketsphinx and OpenAI's transcription endpoint both want whole utterances, so the
stream is cut locally: WebRTC VAD (with an energy floor, so line hiss does not count)
classifies 30 ms frames; a few voiced frames in a short window start an utterance
(with the preceding ~300 ms of audio, so the first consonant is not clipped), and
`silence_ms` of unvoiced frames end it. An utterance longer than `max_utterance_ms`
is cut so a caller talking over background noise still gets answered.

It is a plain synchronous state machine over frames: cheap (microseconds per frame)
and deterministic in tests, with no clock of its own — time is counted in frames.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import webrtcvad

from voice.audio import Framer, rms_dbfs

FRAME_MS = 30
VAD_RATES = (8000, 16000, 32000, 48000)


@dataclass(frozen=True, slots=True)
class SegmentEvent:
    """`start` (audio = pre-roll plus the triggering frames), `audio` (in speech), `end`."""

    kind: Literal["start", "audio", "end"]
    audio: bytes = b""
    forced: bool = False  # an `end` because the utterance hit max_utterance_ms
    voiced_ms: int = 0  # on `end`: how much of the utterance was voiced (clicks are short)


class Endpointer:
    """Cuts a mono pcm_s16le stream at `sample_rate` (one of VAD_RATES) into utterances."""

    def __init__(
        self,
        sample_rate: int,
        *,
        silence_ms: int = 600,
        preroll_ms: int = 300,
        start_frames: int = 3,
        start_window: int = 5,
        aggressiveness: int = 2,
        min_dbfs: float = -50.0,
        max_utterance_ms: int = 15000,
    ) -> None:
        if sample_rate not in VAD_RATES:
            raise ValueError(f"VAD needs one of {VAD_RATES} Hz, got {sample_rate}")
        if not 0 <= aggressiveness <= 3:
            raise ValueError("aggressiveness must be 0..3")
        self.sample_rate = sample_rate
        self.frame_bytes = sample_rate * FRAME_MS // 1000 * 2
        self._framer = Framer(self.frame_bytes)
        self._vad = webrtcvad.Vad(aggressiveness)
        self._min_dbfs = min_dbfs
        self._end_frames = max(1, math.ceil(silence_ms / FRAME_MS))
        self._start_frames = start_frames
        self._max_frames = max(1, max_utterance_ms // FRAME_MS)
        self._recent: deque[tuple[bytes, bool]] = deque(maxlen=max(start_window, math.ceil(preroll_ms / FRAME_MS)))
        self._window = start_window
        self.in_speech = False
        self._silent_run = 0
        self._speech_frames = 0
        self._voiced_frames = 0

    @property
    def pause_ms(self) -> int:
        """Unvoiced audio at the end of the open utterance so far (0 outside one)."""
        return self._silent_run * FRAME_MS if self.in_speech else 0

    def is_voiced(self, frame: bytes) -> bool:
        if rms_dbfs(frame) < self._min_dbfs:
            return False
        return bool(self._vad.is_speech(frame, self.sample_rate))

    def push(self, pcm: bytes) -> list[SegmentEvent]:
        """Feed audio of any length; returns the events it completes, in order."""
        events: list[SegmentEvent] = []
        for frame in self._framer.push(pcm):
            voiced = self.is_voiced(frame)
            if not self.in_speech:
                self._recent.append((frame, voiced))
                window = list(self._recent)[-self._window :]
                if sum(v for _, v in window) >= self._start_frames:
                    self.in_speech = True
                    self._silent_run = 0
                    self._speech_frames = len(self._recent)
                    self._voiced_frames = sum(v for _, v in self._recent)
                    events.append(SegmentEvent("start", b"".join(f for f, _ in self._recent)))
                    self._recent.clear()
                continue
            self._speech_frames += 1
            self._silent_run = 0 if voiced else self._silent_run + 1
            self._voiced_frames += voiced
            events.append(SegmentEvent("audio", frame))
            if self._silent_run >= self._end_frames:
                events.append(self._end(forced=False))
            elif self._speech_frames >= self._max_frames:
                events.append(self._end(forced=True))
        return events

    def cut(self) -> SegmentEvent | None:
        """End the open utterance now (a turn detector decided the caller is done)."""
        return self._end(forced=False) if self.in_speech else None

    def flush(self) -> list[SegmentEvent]:
        """End of stream: close an open utterance (with whatever partial frame is left)."""
        if not self.in_speech:
            self._framer.remainder()
            return []
        rest = self._framer.remainder()
        events = [SegmentEvent("audio", rest)] if rest else []
        events.append(self._end(forced=False))
        return events

    def _end(self, *, forced: bool) -> SegmentEvent:
        voiced_ms = self._voiced_frames * FRAME_MS
        self._voiced_frames = 0
        self.in_speech = False
        self._silent_run = 0
        self._speech_frames = 0
        self._recent.clear()
        return SegmentEvent("end", forced=forced, voiced_ms=voiced_ms)
