"""Session events for watchers, and commands back from supervisors.

Every CallSession publishes typed events here. The console's bot screen subscribes
in-process (the demo) or through the bot server's `/monitor` WebSocket, which carries
exactly these models as JSON (`to_json` / `parse_monitor_event`). Supervisors send
`MonitorCommand`s the other way.

Publishing never blocks a call: each subscriber has a bounded queue and a slow one
loses its oldest events (and is told how many through `Dropped`), never the call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter, field_validator

from voice.outcome import OUTCOMES, CallOutcome, describe

BotState = Literal["listening", "thinking", "speaking", "transferring", "ended"]


class _Event(BaseModel):
    call_id: str
    ts: float = Field(default_factory=time.time)
    worker: str = ""  # the bot process that owns the call; set by the fleet bus, "" in-process


class CallStarted(_Event):
    kind: Literal["call_started"] = "call_started"
    caller: str = ""
    virtual_number: str = ""
    call_type: str = "inbound"
    sample_rate: int = 16000


class TranscriptEvent(_Event):
    """Caller speech: partial (interim, may change) or final."""

    kind: Literal["transcript"] = "transcript"
    text: str
    final: bool


class BotSentence(_Event):
    """A sentence the bot is speaking; `heard` is set once playback passed it (or was cut)."""

    kind: Literal["bot_sentence"] = "bot_sentence"
    text: str
    turn: int
    heard: str | None = None  # what the caller actually heard, when cut short by barge-in


class StateChanged(_Event):
    kind: Literal["state"] = "state"
    state: BotState


class BargeIn(_Event):
    kind: Literal["barge_in"] = "barge_in"
    latency_ms: float  # speech onset -> killAudio sent


class Transferred(_Event):
    kind: Literal["transferred"] = "transferred"
    destination: str


class TurnMetrics(_Event):
    """Per-turn timings in milliseconds; None where a stage did not happen."""

    kind: Literal["turn_metrics"] = "turn_metrics"
    turn: int
    stt_final_ms: float | None = None         # caller stopped -> STT final
    llm_first_token_ms: float | None = None   # STT final -> first LLM token
    first_sentence_ms: float | None = None    # STT final -> first complete sentence
    tts_first_byte_ms: float | None = None    # first sentence -> first TTS audio
    first_audio_ms: float | None = None       # STT final -> first playAudio sent
    total_ms: float | None = None             # caller stopped -> first playAudio sent
    greeting_ms: float | None = None          # metadata -> first greeting playAudio (turn 0)
    interrupted: bool = False


class AudioFrame(_Event):
    """Audio for listening: caller or bot PCM at `sample_rate`. Only sent to listeners."""

    kind: Literal["audio"] = "audio"
    source: Literal["caller", "bot"]
    sample_rate: int
    pcm_b64: str


class CallEnded(_Event):
    """The call is over. `outcome` says who ended it (see voice.outcome); `reason` is the same
    in words. Events from older peers and recordings have no outcome: they parse as "unknown"."""

    kind: Literal["call_ended"] = "call_ended"
    reason: str = "hangup"
    duration_s: float = 0.0
    outcome: CallOutcome = "unknown"
    detail: str = ""

    @field_validator("outcome", mode="before")
    @classmethod
    def _newer_outcome(cls, value: object) -> object:
        """An outcome this version does not know (a newer peer) reads as "unknown", not a bad frame."""
        return value if value in OUTCOMES else "unknown"

    @property
    def text(self) -> str:
        """How this ending reads (the outcome's wording; the old reason for "unknown")."""
        return describe(self.outcome, self.detail, self.reason)


WorkerState = Literal["up", "draining", "stopped", "lost"]


class WorkerStatus(_Event):
    """A fleet worker's heartbeat (call_id "*"): its live calls, load and event-loop lag.

    `state` is "up" from the worker itself; a console that stops hearing one marks it "lost"
    (and its calls lost); a worker shutting down says "draining" then "stopped".
    """

    kind: Literal["worker"] = "worker"
    state: WorkerState = "up"
    live_calls: list[str] = Field(default_factory=list)
    calls_total: int = 0
    load: float = 0.0            # CPU seconds per second of this process since the last beat
    loop_lag_ms: float = 0.0     # the worst event-loop lag since the last beat
    interval_s: float = 1.0


class Dropped(_Event):
    """This subscriber was too slow; `count` events were discarded for it."""

    kind: Literal["dropped"] = "dropped"
    count: int


MonitorEvent = Annotated[
    CallStarted | TranscriptEvent | BotSentence | StateChanged | BargeIn | Transferred | TurnMetrics
    | AudioFrame | CallEnded | WorkerStatus | Dropped,
    Field(discriminator="kind"),
]
_EVENT_ADAPTER: TypeAdapter[MonitorEvent] = TypeAdapter(MonitorEvent)


def to_json(event: _Event) -> str:
    return event.model_dump_json()


def parse_monitor_event(raw: str | bytes) -> MonitorEvent:
    """Parse one /monitor frame; raises pydantic.ValidationError if it is not an event."""
    return _EVENT_ADAPTER.validate_json(raw)


# ---- commands (supervisor -> bot) ----------------------------------------------------------


class TransferCommand(BaseModel):
    command: Literal["transfer"] = "transfer"
    call_id: str
    destination: str | None = None  # None: the configured TRANSFER_NUMBER


class HangupCommand(BaseModel):
    command: Literal["hangup"] = "hangup"
    call_id: str


class SayCommand(BaseModel):
    command: Literal["say"] = "say"
    call_id: str
    text: str = Field(min_length=1, max_length=1000)


class ListenCommand(BaseModel):
    """Start or stop receiving AudioFrame events for one call."""

    command: Literal["listen"] = "listen"
    call_id: str
    on: bool = True


MonitorCommand = Annotated[
    TransferCommand | HangupCommand | SayCommand | ListenCommand, Field(discriminator="command")
]
_COMMAND_ADAPTER: TypeAdapter[MonitorCommand] = TypeAdapter(MonitorCommand)


def parse_command(raw: str | bytes) -> MonitorCommand:
    """Parse one supervisor command; raises pydantic.ValidationError if malformed."""
    return _COMMAND_ADAPTER.validate_json(raw)


CommandHandler = Callable[[MonitorCommand], Awaitable["str | None"]]


# ---- the in-process bus ----------------------------------------------------------------------


class Subscription:
    """One subscriber's bounded queue. Iterate it; close it when done."""

    def __init__(self, bus: EventBus, maxsize: int, audio: bool, call_id: str | None = None,
                 kinds: frozenset[str] | None = None) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[MonitorEvent] = asyncio.Queue(maxsize)
        self.audio_calls: set[str] = set() if not audio else {"*"}
        self.call_id = call_id  # only this call's events (None: every call's)
        self.kinds = kinds      # only these kinds (None: every kind)
        self.dropped = 0
        self.closed = False

    def wants(self, event: _Event) -> bool:
        if self.call_id is not None and event.call_id != self.call_id:
            return False
        if self.kinds is not None and getattr(event, "kind", None) not in self.kinds:
            return False
        if isinstance(event, AudioFrame):
            return "*" in self.audio_calls or event.call_id in self.audio_calls
        return True

    def offer(self, event: MonitorEvent) -> None:
        if self.closed or not self.wants(event):
            return
        if self._queue.full():
            try:
                self._queue.get_nowait()
            except asyncio.QueueEmpty:  # pragma: no cover - raced empty
                pass
            self.dropped += 1
        self._queue.put_nowait(event)

    def get_nowait(self) -> MonitorEvent:
        """The next queued event; asyncio.QueueEmpty if none (drops are not reported here)."""
        return self._queue.get_nowait()

    def drain(self) -> list[MonitorEvent]:
        """Every event queued right now, oldest first (none waited for)."""
        events: list[MonitorEvent] = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events

    async def get(self) -> MonitorEvent:
        if self.dropped:
            count, self.dropped = self.dropped, 0
            return Dropped(call_id="*", count=count)
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[MonitorEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[MonitorEvent]:
        while not self.closed:
            yield await self.get()

    def close(self) -> None:
        self.closed = True
        self._bus._subs.discard(self)


class EventBus:
    """Fan-out of session events to any number of subscribers; never blocks a publisher."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._command_handler: CommandHandler | None = None

    def subscribe(self, *, maxsize: int = 10_000, audio: bool = False, call_id: str | None = None,
                  kinds: frozenset[str] | None = None) -> Subscription:
        """A new subscriber; `call_id` / `kinds` narrow what it is offered (cheap: checked at
        publish time, so a narrow subscriber costs a comparison per event, not a queue slot)."""
        sub = Subscription(self, maxsize, audio, call_id, kinds)
        self._subs.add(sub)
        return sub

    def publish(self, event: MonitorEvent) -> None:
        for sub in tuple(self._subs):
            sub.offer(event)

    def wants_audio(self, call_id: str) -> bool:
        """True if some subscriber listens to this call's audio; cheap enough to ask per frame."""
        return any("*" in s.audio_calls or call_id in s.audio_calls for s in self._subs)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def set_command_handler(self, handler: CommandHandler) -> None:
        """The bot server registers how commands reach its sessions."""
        self._command_handler = handler

    async def send_command(self, command: MonitorCommand) -> str | None:
        """Deliver a supervisor command; returns an error message, or None on success."""
        if self._command_handler is None:
            return "no bot is attached to this bus"
        return await self._command_handler(command)

