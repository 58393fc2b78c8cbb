"""End-of-utterance detection: when has the caller finished what they are saying?

Final transcripts arrive in pieces (a recogniser finalises phrase by phrase), so they
are collected into one pending utterance. It is handed on (`on_utterance`) when the
recogniser says the speech is over (`speech_final`), or when `gap_s` has passed
since the last final with the VAD hearing no speech (the gap timer; while the caller
is still speaking the timer keeps waiting). A VAD speech end with text pending also
arms the timer, so a recogniser that never says `speech_final` still ends turns.

With the text goes when the caller stopped speaking (the VAD's last speech end, if
the caller spoke since the last turn and it is not later than the transcript, which
would mean it belongs to the next words), for the turn's latency figures. Every wait
is on the call's `Clock`. A recogniser that decides turns itself
(`recogniser_ends_turns`) gets the gap only as a safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from voice.clock import Clock


class SpeechActivity(Protocol):
    """What the detector reads from the VAD (voice.vad.VoiceActivityDetector has both)."""

    @property
    def in_speech(self) -> bool: ...

    @property
    def last_speech_end(self) -> float | None: ...


OnUtterance = Callable[[str, float | None, float | None], Awaitable[None]]  # (text, stt_final, caller_stopped)
Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[Any]"]
# A recogniser with its own turn detector sends speech_final when the turn is over; for it
# the gap timer is only a safety net (a stream that died mid-turn), not the decision.
SAFETY_GAP_S = 3.0


class UtteranceEnd:
    """Collects final transcripts and dispatches each finished utterance once."""

    def __init__(
        self, *, clock: Clock, gap_s: float, vad: SpeechActivity, on_utterance: OnUtterance, spawn: Spawn | None = None
    ) -> None:
        self.clock = clock
        self.gap_s = gap_s
        self.vad = vad
        self.on_utterance = on_utterance
        self._spawn = spawn or (lambda coro, name: asyncio.create_task(coro, name=name))
        self.pending = ""
        self.recogniser_ends_turns = False  # set when the STT stream decides turns itself
        self.last_speech_end: float | None = None  # the latest VAD speech end seen
        self.last_words_at = -1e18  # the latest transcript with words, interim or final
        self._final_at: float | None = None
        self._speech_since_turn = False
        self._gap_task: asyncio.Task[Any] | None = None

    @property
    def timer_armed(self) -> bool:
        return self._gap_task is not None

    def words(self, at: float) -> None:
        """The recogniser heard words at `at` (an interim or a final transcript)."""
        self.last_words_at = at

    async def wait_for_quiet(
        self, since: float, quiet_s: float, *, also_after: Callable[[], float | None], give_up: Callable[[], bool]
    ) -> bool:
        """True once the line has been quiet for `quiet_s` (no VAD speech, no words, and
        nothing after `since` or `also_after()`); False as soon as `give_up()` or an
        utterance is pending (the caller did say something)."""
        while True:
            if give_up() or self.pending:
                return False
            if self.vad.in_speech:
                await self.clock.sleep(0.1)
                continue
            marks = (since, self.last_words_at, self.last_speech_end, also_after())
            quiet_from = max(m for m in marks if m is not None)
            wait = quiet_from + quiet_s - self.clock.now()
            if wait <= 0:
                return True
            await self.clock.sleep(wait)

    def speech_started(self) -> None:
        """The VAD confirmed an onset: the next utterance's stop time is measurable."""
        self._speech_since_turn = True

    def speech_ended(self, at: float) -> None:
        """The VAD heard speech end at `at`: with text pending, start the gap timer."""
        self.last_speech_end = at
        if self.pending and self._gap_task is None:
            self._arm()

    async def final(self, text: str, *, at: float, speech_final: bool) -> None:
        """A final transcript (possibly empty, e.g. a bare speech_final marker)."""
        if text:
            self.pending = f"{self.pending} {text}".strip()
            if self._final_at is None:
                self._final_at = at
        if not self.pending:
            return
        if speech_final:
            await self.dispatch()
        else:
            self._arm()

    def cancel(self) -> None:
        """Stop the gap timer (the pending text stays)."""
        gap, self._gap_task = self._gap_task, None
        if gap is not None and gap is not asyncio.current_task():
            gap.cancel()

    def _arm(self) -> None:
        if self._gap_task is not None:
            self._gap_task.cancel()
        self._gap_task = self._spawn(self._gap_wait(), "utterance-gap")

    async def _gap_wait(self) -> None:
        try:
            while True:
                await self.clock.sleep(max(self.gap_s, SAFETY_GAP_S) if self.recogniser_ends_turns else self.gap_s)
                if not self.vad.in_speech:
                    break
        finally:
            if self._gap_task is asyncio.current_task():
                self._gap_task = None
        await self.dispatch()

    async def dispatch(self) -> None:
        """Hand the pending utterance on now (nothing happens if there is none)."""
        self.cancel()
        text, self.pending = self.pending, ""
        final_at, self._final_at = self._final_at, None
        if not text:
            return
        stopped = None
        if self._speech_since_turn:
            stopped = self.last_speech_end if not self.vad.in_speech else self.vad.last_speech_end
            if stopped is not None and final_at is not None and stopped > final_at:
                stopped = None
        self._speech_since_turn = False
        await self.on_utterance(text, final_at, stopped)
