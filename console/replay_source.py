"""Recorded calls as a source for the Bot view, instead of the live bus.

The Bot view renders `state.bot` (a `BotCalls`) at `now`. For a replay, `ReplaySource`
owns that state and a virtual clock: the selected call's events are applied up to the
replay position (seeking back re-applies them from the start, which is cheap: a call
has hundreds of events), and `now()` is the recorded wall-clock instant at that
position, so every duration, barge-in flash and word-by-word reveal the view draws is
the recorded one. The other recordings are shown whole (finished), in recording order.

While playing at 1x, the audio under the cursor goes to a speaker (both sides mixed, or
one) when PortAudio is there; at other speeds it is muted (a sped-up call is for
reading) and the status line says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from console.state import BotCall, BotCalls, ViewFilter
from voice.bus import BargeIn, TranscriptEvent
from voice.replay.cursor import AudioSide, ReplayAudio, ReplayCursor
from voice.replay.load import Recording
from voice.replay.summary import CallSummary, levels_dbfs, summarize


class ReplayCalls(BotCalls):
    """BotCalls in recording order (the live view sorts live calls first; a replay must not
    reorder rows under the cursor as calls start and end)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keep_finished=100_000, **kwargs)
        self.order: list[str] = []

    def rows(self, view: ViewFilter) -> list[BotCall]:
        return [self.calls[k] for k in self.order
                if k in self.calls and view.matches_text(self.calls[k].caller, self.calls[k].state, k)]

    def forget(self, call_id: str) -> None:
        self.calls.pop(call_id, None)
        self._dirty.discard(call_id)
        if call_id in self._finished:
            self._finished.remove(call_id)


@dataclass(slots=True)
class ReplayCall:
    """One recording, prepared for replay."""

    key: str
    rec: Recording
    summary: CallSummary
    events: list[Any]
    times: list[float]                  # each event's position in seconds
    caller_levels: np.ndarray | None
    bot_levels: np.ndarray | None
    audio: ReplayAudio
    cuts: list[float] = field(default_factory=list)


def _prepare(rec: Recording, key: str) -> ReplayCall:
    events = [e if e.call_id == key else e.model_copy(update={"call_id": key}) for e in rec.events]
    return ReplayCall(
        key=key, rec=rec, summary=summarize(rec), events=events, times=[rec.at(e.ts) for e in events],
        caller_levels=levels_dbfs(rec.caller.pcm, rec.caller.rate) if rec.caller else None,
        bot_levels=levels_dbfs(rec.bot.pcm, rec.bot.rate) if rec.bot else None,
        audio=ReplayAudio(rec), cuts=[rec.at(e.ts) for e in events if isinstance(e, BargeIn)],
    )


class ReplaySource:
    def __init__(self, recordings: Sequence[Recording], *, clock: Callable[[], float] = time.monotonic,
                 audio_side: AudioSide = "mixed", player_factory: Callable[[int], Any] | None = None) -> None:
        if not recordings:
            raise ValueError("no recordings to replay")
        self.clock = clock
        self.state = ReplayCalls(clock=self.now)
        self.calls: dict[str, ReplayCall] = {}
        for rec in recordings:
            key, n = rec.call_id, 2
            while key in self.calls:
                key, n = f"{rec.call_id}#{n}", n + 1
            self.calls[key] = _prepare(rec, key)
            self.state.order.append(key)
            for event in self.calls[key].events:
                self.state.ingest(event)
        self.current: ReplayCall = self.calls[self.state.order[0]]
        self.cursor = ReplayCursor(0.0, clock=clock)
        self._applied = 0
        self.audio_side: AudioSide = audio_side
        self.audio_note = ""
        self._player_factory = player_factory
        self._player: Any = None
        self._player_failed = False
        self._audio_pos = 0.0
        self._speed = 1.0
        self.select(self.current.key, force=True)

    # ---- the virtual clock the Bot view draws with -------------------------------------------

    def now(self) -> float:
        current = getattr(self, "current", None)
        if current is None or not hasattr(self, "cursor"):
            return time.time()
        return current.rec.start_ts + self.cursor.position

    # ---- choosing and moving ---------------------------------------------------------------

    def select(self, key: str, *, force: bool = False) -> bool:
        """Replay another recording from its start (the previous one is shown whole again)."""
        if key not in self.calls or (key == self.current.key and not force):
            return False
        previous = self.current
        if previous.key != key:
            self._apply_all(previous)
        self.current = self.calls[key]
        if self._player is not None and getattr(self._player, "sample_rate", None) not in (None, self.current.rec.sample_rate):
            self._player.close()
            self._player = None
        playing = self.cursor.playing
        marks = [t for t, e in zip(self.current.times, self.current.events, strict=True) if _is_mark(e)]
        self.cursor = ReplayCursor(self.current.rec.duration_s, marks, clock=self.clock)
        self.cursor.speed = self._speed
        if playing:
            self.cursor.play()
        self._rewind()
        self.tick()
        return True

    def _apply_all(self, call: ReplayCall) -> None:
        self.state.forget(call.key)
        for event in call.events:
            self.state.ingest(event)

    def _rewind(self) -> None:
        self.state.forget(self.current.key)
        self._applied = 0
        self._audio_pos = 0.0
        if self._player is not None:
            self._player.clear()

    def tick(self) -> None:
        """Apply the events up to the position; feed the speaker. Called by the refresh timer."""
        call = self.current
        pos = self.cursor.position
        if self._applied and call.times[self._applied - 1] > pos + 1e-9:
            self._rewind()
        while self._applied < len(call.events) and (call.times[self._applied] <= pos + 1e-9 or self._applied == 0):
            self.state.ingest(call.events[self._applied])
            self._applied += 1
        self._feed_audio(pos)

    def toggle(self) -> bool:
        playing = self.cursor.toggle()
        self._audio_pos = self.cursor.position
        if not playing and self._player is not None:
            self._player.clear()
        return playing

    def seek(self, seconds: float) -> float:
        pos = self.cursor.seek(seconds)
        self._moved()
        return pos

    def jump(self, delta: float) -> float:
        return self.seek(self.cursor.position + delta)

    def step(self, direction: int) -> float:
        pos = self.cursor.step(direction)
        self._moved()
        return pos

    def faster(self) -> float:
        self._speed = self.cursor.faster()
        return self._speed

    def slower(self) -> float:
        self._speed = self.cursor.slower()
        return self._speed

    def _moved(self) -> None:
        self._audio_pos = self.cursor.position
        if self._player is not None:
            self._player.clear()
        self.tick()

    # ---- sound -------------------------------------------------------------------------------

    def cycle_audio(self) -> AudioSide:
        sides = self.current.audio.sides
        i = sides.index(self.audio_side) if self.audio_side in sides else -1
        self.audio_side = sides[(i + 1) % len(sides)]
        self._audio_pos = self.cursor.position
        if self._player is not None:
            self._player.clear()
        return self.audio_side

    def _feed_audio(self, pos: float) -> None:
        if not self.cursor.playing or self.audio_side == "off":
            self._audio_pos = pos
            return
        if self.cursor.speed != 1.0:
            self.audio_note = "at 1x only"
            self._audio_pos = pos
            return
        player = self._ensure_player()
        if player is None:
            self._audio_pos = pos
            return
        self.audio_note = ""
        pcm = self.current.audio.between(self._audio_pos, pos, self.audio_side)
        self._audio_pos = pos
        if pcm:
            player.write(pcm)

    def _ensure_player(self) -> Any:
        if self._player is not None or self._player_failed:
            return self._player
        try:
            if self._player_factory is not None:
                self._player = self._player_factory(self.current.rec.sample_rate)
            else:
                from voice.sound import Player  # noqa: PLC0415 - PortAudio only when sound is wanted

                self._player = Player(self.current.rec.sample_rate).start()
        except Exception as exc:  # noqa: BLE001 - SoundUnavailable or a device error: replay silently
            self._player_failed = True
            self.audio_note = f"no sound here: {exc}"[:160]
        return self._player

    def close(self) -> None:
        if self._player is not None:
            self._player.close()
            self._player = None


def _is_mark(event: Any) -> bool:
    """Moments worth stepping to: everything but a partial transcript."""
    return not (isinstance(event, TranscriptEvent) and not event.final)
