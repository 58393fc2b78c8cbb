"""Where a call's events and audio go besides the Stream Node: the bus and the recorder.

Supervisors watch a call through the `EventBus` (events always; PCM only while a
monitor listens, so an unwatched call pays nothing for it), and a `CallRecorder`, when
recording is on, keeps both sides' audio and every event on one timeline.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any, Literal

from voice.audio import duration_ms
from voice.bus import AudioFrame, EventBus, TurnMetrics
from voice.metrics import ServerStats, describe
from voice.recording import CallRecorder

Logger = logging.Logger | logging.LoggerAdapter[Any]


class CallTap:
    """One call's fan-out to the bus and the recorder (which may be None)."""

    def __init__(
        self, call_id: str, sample_rate: int, bus: EventBus, recorder: CallRecorder | None,
        log: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.call_id = call_id
        self.sample_rate = sample_rate
        self.bus = bus
        self.recorder = recorder
        self.log = log
        self.reference: Callable[[bytes, float], None] | None = None  # the echo canceller hears the bot too

    def publish(self, event: Any) -> None:
        self.bus.publish(event)
        if self.recorder is not None:
            self.recorder.event(event)

    def caller_audio(self, pcm: bytes, now: float) -> None:
        if self.recorder is not None:
            self.recorder.caller_audio(pcm, now)
            self.recorder.advance(now)
        self._monitor_audio("caller", pcm)

    def bot_audio(self, pcm: bytes, start: float, chunk_number: int) -> None:
        if self.reference is not None:
            self.reference(pcm, start)
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("Chunk %d sent | b64_size=%d chars | %.0f ms", chunk_number,
                           4 * ((len(pcm) + 46) // 3), duration_ms(len(pcm), self.sample_rate))
        if self.recorder is not None:
            self.recorder.bot_audio(pcm, start)
        self._monitor_audio("bot", pcm)

    def turn_done(self, metrics: TurnMetrics, stats: ServerStats | None, log: Logger) -> None:
        """A turn's timings: to the bus, the recording, the server's figures and the log."""
        self.publish(metrics)
        if stats is not None:
            stats.add_turn(metrics)
        log.info(describe(metrics))

    def cut(self, at: float) -> None:
        """killAudio at `at`: the recording drops the bot audio not yet played."""
        if self.recorder is not None:
            self.recorder.cut(at)

    def close(self, at: float) -> None:
        if self.recorder is not None:
            self.recorder.close(at)

    def _monitor_audio(self, source: Literal["caller", "bot"], pcm: bytes) -> None:
        if self.bus.wants_audio(self.call_id):
            self.publish(AudioFrame(call_id=self.call_id, source=source, sample_rate=self.sample_rate,
                                    pcm_b64=base64.b64encode(pcm).decode("ascii")))
