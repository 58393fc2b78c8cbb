"""Speculative start on a ManualClock: the answer is prepared on an eager transcript, held
before its first audio, released by the confirming speech_final final, and cancelled
(nothing spoken) when the caller goes on or the words change."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS, voiced
from tests.voice.core.harness import make_settings
from voice import protocol
from voice.bus import EventBus
from voice.clock import ManualClock
from voice.prompts import PromptCache
from voice.providers.base import ToolCall, Transcript
from voice.session import CallSession, SessionOptions

RATE = 16000


class Harness:
    def __init__(self, *, speculative: bool = True, llm: FakeLLM | None = None) -> None:
        self.clock = ManualClock(start=100.0)
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.llm = llm or FakeLLM(default=("Sure. ", "We open at nine."))
        self.providers = FakeProviders(stt=FakeSTT(manual=True), llm=self.llm, tts=FakeTTS(ms_per_char=5, min_ms=100))
        settings = make_settings(speculative_start=speculative, greeting="Hi.")
        self.session = CallSession(
            metadata=protocol.CallMetadata(callid="c1", virtual_number="+911234567890", customer_number="+919876543210"),
            call_id="c1", sample_rate=RATE, send=self._send, providers=self.providers,  # type: ignore[arg-type]
            settings=settings, bus=EventBus(), prompts=PromptCache(self.providers.tts), clock=self.clock,
            options=SessionOptions(lead_ms=100, utterance_gap_s=0.3),
        )

    async def _send(self, text: str) -> None:
        self.sent.append((self.clock.now(), json.loads(text)))

    def plays(self, after: float = -1.0) -> int:
        return sum(1 for at, m in self.sent if m.get("type") == "playAudio" and at > after)

    def kinds(self) -> list[str]:
        return [m.get("type", "?") for _, m in self.sent]

    async def start(self) -> Any:
        await self.session.start()
        stream = await self.providers.stt.wait_stream()
        stream.turn_detection = True  # a recogniser that decides turns itself
        await self.clock.advance(2.0)  # the greeting plays out
        assert self.session.state == "listening"
        return stream

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)


@pytest.fixture
async def h():
    harness = Harness()
    yield harness
    await harness.session.close("test over")


async def test_eager_transcript_starts_the_answer_but_nothing_plays_until_confirmed(h):
    stream = await h.start()
    mark = h.clock.now()
    stream.emit(Transcript("what time do you open", final=False, speech_final=False, eager=True))
    await h.settle()
    await h.clock.advance(1.0)
    assert len(h.llm.requests) == 1, "the LLM started on the eager transcript"
    assert h.llm.requests[0][-1].content == "what time do you open"
    assert h.plays(after=mark) == 0, "nothing is spoken before the turn is confirmed"
    assert h.session.state == "listening"
    stream.emit(Transcript("what time do you open", final=True, speech_final=True))
    await h.settle()
    await h.clock.advance(0.5)
    assert h.plays(after=mark) >= 1
    assert len(h.llm.requests) == 1, "the prepared answer is the one spoken, not a second request"
    assert h.session.turn == 1 and h.session.speculation.confirmed == 1
    await h.clock.advance(3.0)
    assert [m.content for m in h.session.history][-2:] == ["what time do you open", "Sure. We open at nine."]


async def test_a_caller_who_goes_on_cancels_the_speculative_answer(h):
    stream = await h.start()
    mark = h.clock.now()
    stream.emit(Transcript("I want to check my order", final=False, speech_final=False, eager=True))
    await h.settle()
    assert len(h.llm.requests) == 1
    await h.session.feed_audio(voiced(RATE, 300))  # the caller speaks again: a VAD onset
    await h.settle()
    assert h.session.speculation.cancelled == 1 and h.session.speculation.current is None
    await h.clock.advance(1.0)
    assert h.plays(after=mark) == 0 and "killAudio" not in h.kinds()
    stream.emit(Transcript("I want to check my order status", final=True, speech_final=True))
    await h.settle()
    await h.clock.advance(0.5)
    assert len(h.llm.requests) == 2 and h.llm.requests[1][-1].content == "I want to check my order status"
    assert h.plays(after=mark) >= 1
    assert h.session.turn == 1, "the cancelled answer was never a turn"


async def test_other_words_at_confirmation_restart_the_answer(h):
    stream = await h.start()
    stream.emit(Transcript("my order number is one two three", final=False, speech_final=False, eager=True))
    await h.settle()
    stream.emit(Transcript("my order number is one two three four five", final=True, speech_final=True))
    await h.settle()
    await h.clock.advance(0.5)
    assert [r[-1].content for r in h.llm.requests] == ["my order number is one two three",
                                                       "my order number is one two three four five"]
    assert h.session.speculation.cancelled == 1 and h.session.speculation.confirmed == 0
    await h.clock.advance(3.0)
    assert h.session.history[-2].content == "my order number is one two three four five"


async def test_a_speculative_tool_call_waits_for_the_turn():
    h = Harness(llm=FakeLLM([[ToolCall("end_call")]]))
    try:
        stream = await h.start()
        stream.emit(Transcript("goodbye", final=False, speech_final=False, eager=True))
        await h.settle()
        await h.clock.advance(1.0)
        assert "disconnect" not in h.kinds(), "no hang-up on a turn that is not confirmed"
        await h.session.feed_audio(voiced(RATE, 300))  # ... and the caller goes on
        await h.settle()
        await h.clock.advance(2.0)
        assert "disconnect" not in h.kinds()
    finally:
        await h.session.close("test over")


async def test_speculative_start_can_be_switched_off():
    h = Harness(speculative=False)
    try:
        stream = await h.start()
        stream.emit(Transcript("what time do you open", final=False, speech_final=False, eager=True))
        await h.settle()
        await h.clock.advance(0.5)
        assert h.llm.requests == []
        stream.emit(Transcript("what time do you open", final=True, speech_final=True))
        await h.settle()
        await h.clock.advance(0.5)
        assert len(h.llm.requests) == 1 and h.plays() >= 1
    finally:
        await h.session.close("test over")


async def test_pieces_without_speech_final_wait_for_the_recogniser_not_the_short_gap(h):
    stream = await h.start()
    stream.emit(Transcript("my order number is", final=True, speech_final=False))
    await h.settle()
    await h.clock.advance(1.5)  # well past utterance_gap_s (0.3 s): the recogniser decides this turn
    assert h.session.turn == 0
    stream.emit(Transcript("four five six", final=True, speech_final=False))
    stream.emit(Transcript("", final=True, speech_final=True))
    await h.settle()
    await h.clock.advance(0.5)
    assert h.session.turn == 1 and h.llm.requests[-1][-1].content == "my order number is four five six"
