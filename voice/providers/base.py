"""The three seams between a call and its vendors: STT, LLM and TTS.

The session knows only these Protocols. Every adapter (Deepgram, OpenAI, Cartesia,
the offline ones, the fakes in tests) implements one of them, so a call can switch
vendors, or fall back to the offline voice, without a line of session code changing.

Audio crossing these seams is always mono pcm_s16le at the rate the caller asked
for; adapters that need another rate resample inside themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


class ProviderError(RuntimeError):
    """A provider failed (network, protocol, vendor error). Never carries a key."""


# ---- speech to text --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transcript:
    """One STT result. `final` ends an utterance; interims may be revised.

    `speech_final` on a final: the caller's turn is over (the recogniser's turn detector
    or the vendor's endpointing said so); finals without it are pieces of a turn still
    going on. `eager` on an interim: the turn is probably over and `text` is the whole
    turn so far; a reply may be prepared on it but not spoken until a speech_final
    final confirms the turn (the caller may yet go on).
    """

    text: str
    final: bool
    confidence: float = 1.0
    speech_final: bool = True
    eager: bool = False


@runtime_checkable
class STTStream(Protocol):
    """One live recognition stream for one call."""

    async def send(self, pcm: bytes) -> None:
        """Feed caller audio. Must not block for long; adapters buffer internally."""

    def results(self) -> AsyncIterator[Transcript]:
        """Transcripts as they come; ends when the stream is closed."""

    async def close(self) -> None:
        """Flush and release everything (sockets, threads, tasks)."""


class NonBlockingSend(Protocol):
    """An STTStream whose `send` never waits (it only buffers for the stream's own worker):
    `send_nowait` is the same without the coroutine, so the call's STT lane hands each uplink
    frame over in place instead of waking a feeder task 50 times a second per call."""

    def send_nowait(self, pcm: bytes) -> None:
        """Feed caller audio at once; raises what `send` would."""


class TurnTaking(Protocol):
    """An STTStream that decides the end of the caller's turn itself (`voice.turn`): its
    speech_final finals are the decision, so the session adds no utterance gap of its own."""

    turn_detection: bool


class TranscriptOutbox:
    """The results side every STT stream shares: a queue the stream's worker fills with
    Transcripts, then a ProviderError (raised to the reader) or None (the end)."""

    def __init__(self) -> None:
        self._out: asyncio.Queue[Transcript | ProviderError | None] = asyncio.Queue()

    async def results(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._out.get()
            if item is None:
                return
            if isinstance(item, ProviderError):
                raise item
            yield item


@runtime_checkable
class STTProvider(Protocol):
    name: str

    async def open(self, *, sample_rate: int, call_id: str) -> STTStream: ...


# ---- language model ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call, in OpenAI's JSON-schema shape."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}, "required": []})

    def to_openai(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description,
            "parameters": self.parameters}}


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


LLMDelta = TextDelta | ToolCall

ChatRole = Literal["system", "user", "assistant"]


@dataclass(slots=True)
class ChatMessage:
    role: ChatRole
    content: str


@runtime_checkable
class LLMProvider(Protocol):
    name: str

    def stream(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> AsyncIterator[LLMDelta]:
        """Stream the reply: text deltas as they come, tool calls once complete."""


# ---- text to speech ----------------------------------------------------------------------


@runtime_checkable
class TTSProvider(Protocol):
    name: str

    def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        """Stream mono pcm_s16le at `sample_rate` for `text`, first bytes as early as possible."""


# The two tools the session offers the model.
TRANSFER_TOOL = ToolSpec(
    name="transfer_to_agent",
    description="Transfer the caller to a human agent when they ask for a person.",
)
END_CALL_TOOL = ToolSpec(
    name="end_call",
    description="End the call after saying goodbye, when the caller is done.",
)
