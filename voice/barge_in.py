"""Interrupting a reply: kill its audio, measure the barge-in, and maybe pick it up again.

`cut` is the control lane's answer to the caller talking over the bot (or to a
supervisor's command): if the reply's audio is playing, killAudio goes out at once and
the overlap is measured (from the later of the caller's onset and the reply's first
audio, to the killAudio) and published as a `BargeIn`; if nothing is playing yet the
reply's in-flight output is made stale (new epoch). Either way the reply's task is
cancelled and `on_cut(reply, at)` closes its books.

`watch` handles the barge-in that turns out to be no turn at all: when no transcript
follows within `resume_after_s` of quiet, `on_quiet(reply)` picks the cut reply up
again (the session answers the question again, or resumes from the cut sentence).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from voice.bus import BargeIn
from voice.call_tap import CallTap
from voice.clock import Clock
from voice.playback import Speaker
from voice.reply import Reply
from voice.utterance_end import UtteranceEnd

if TYPE_CHECKING:
    from voice.metrics import ServerStats

Logger = logging.Logger | logging.LoggerAdapter[Any]


class Interruptions:
    """One call's interruptions: `cut` a reply now; `watch` a cut one for a resume."""

    def __init__(
        self, *, call_id: str, clock: Clock, speaker: Speaker, tap: CallTap, stats: ServerStats | None,
        utterance: UtteranceEnd, resume_after_s: float, log: Logger, control_log: Logger,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[Any]],
        on_cut: Callable[[Reply, float], None], on_quiet: Callable[[Reply], Awaitable[None]],
        current: Callable[[], Reply | None], closed: Callable[[], bool],
    ) -> None:
        self.call_id = call_id
        self.clock = clock
        self.speaker = speaker
        self.tap = tap
        self.stats = stats
        self.utterance = utterance
        self.resume_after_s = resume_after_s
        self.log = log
        self.control_log = control_log
        self._spawn = spawn
        self._on_cut = on_cut
        self._on_quiet = on_quiet
        self._current = current
        self._closed = closed
        self._resume_task: asyncio.Task[Any] | None = None

    async def cut(self, reply: Reply, *, onset: float | None, barge_in: bool, source: str = "", state: str = "") -> None:
        """Stop `reply` now; with `barge_in`, measure and publish it as the caller's barge-in."""
        if reply.audio_sent and self.speaker.playback.playing():
            cut_at = await self.speaker.kill()
            self.tap.cut(cut_at)
            self.control_log.info("killAudio sent")
            if barge_in:
                # overlap began at the later of the caller's onset and the reply's first audio
                began = max(onset, reply.timer.first_audio or onset) if onset is not None else cut_at
                latency = (cut_at - began) * 1000
                self.tap.publish(BargeIn(call_id=self.call_id, latency_ms=round(max(0.0, latency), 2)))
                if self.stats is not None:
                    self.stats.barge_in.add(latency)
                self.log.info("barge-in (%s): killAudio %.0f ms after speech onset", source, latency)
        else:
            self.speaker.new_epoch()  # in-flight output of this reply is stale from now on
            cut_at = self.clock.now()
            if barge_in:
                self.log.info("caller spoke while the bot was %s: reply cancelled", state)
        reply.timer.interrupted = True
        reply.cut_at = cut_at
        if reply.task is not None and reply.task is not asyncio.current_task():
            reply.task.cancel()
        self._on_cut(reply, cut_at)

    def watch(self, cut: Reply) -> None:
        """After a barge-in: if no words follow, hand the cut reply to `on_quiet`."""
        if self._resume_task is None:
            self._resume_task = self._spawn(self._watch(cut), "resume")

    def cancel_resume(self) -> None:
        task, self._resume_task = self._resume_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _watch(self, cut: Reply) -> None:
        try:
            quiet = await self.utterance.wait_for_quiet(
                cut.cut_at or 0.0, self.resume_after_s, also_after=lambda: self.speaker.killed_at,
                give_up=lambda: self._current() is not cut or self._closed(),
            )
            if quiet:
                await self._on_quiet(cut)
        finally:
            if self._resume_task is asyncio.current_task():
                self._resume_task = None
