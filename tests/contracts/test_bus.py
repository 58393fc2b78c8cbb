"""The monitor bus: typed events round-trip as JSON, slow subscribers never block a call."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from voice import bus


def test_every_event_round_trips_through_json() -> None:
    events = [
        bus.CallStarted(call_id="c", caller="+91"),
        bus.TranscriptEvent(call_id="c", text="hi", final=False),
        bus.BotSentence(call_id="c", text="Hello.", turn=1, heard="Hel"),
        bus.StateChanged(call_id="c", state="speaking"),
        bus.BargeIn(call_id="c", latency_ms=90.5),
        bus.Transferred(call_id="c", destination="+91"),
        bus.TurnMetrics(call_id="c", turn=2, first_audio_ms=3.0),
        bus.AudioFrame(call_id="c", source="bot", sample_rate=16000, pcm_b64="AAA="),
        bus.CallEnded(call_id="c", reason="transfer", duration_s=4.0),
    ]
    for event in events:
        assert bus.parse_monitor_event(bus.to_json(event)) == event


@pytest.mark.parametrize(
    "raw", ['{"command": "transfer", "call_id": "c"}', '{"command": "say", "call_id": "c", "text": "hi"}',
            '{"command": "hangup", "call_id": "c"}', '{"command": "listen", "call_id": "c", "on": false}'],
)
def test_commands_parse(raw: str) -> None:
    assert bus.parse_command(raw).call_id == "c"


@pytest.mark.parametrize("raw", ['{"command": "explode", "call_id": "c"}', '{"command": "say", "call_id": "c", "text": ""}', "{", "[]"])
def test_bad_commands_are_rejected(raw: str) -> None:
    with pytest.raises(ValidationError):
        bus.parse_command(raw)


async def test_slow_subscriber_loses_oldest_and_is_told() -> None:
    b = bus.EventBus()
    sub = b.subscribe(maxsize=3)
    for i in range(10):
        b.publish(bus.StateChanged(call_id=str(i), state="listening"))
    first = await sub.get()
    assert isinstance(first, bus.Dropped) and first.count == 7
    rest = [await sub.get() for _ in range(3)]
    assert [e.call_id for e in rest] == ["7", "8", "9"]
    sub.close()
    assert b.subscriber_count == 0


async def test_audio_only_reaches_listeners_of_that_call() -> None:
    b = bus.EventBus()
    plain, listener = b.subscribe(), b.subscribe()
    listener.audio_calls.add("c1")
    b.publish(bus.AudioFrame(call_id="c1", source="caller", sample_rate=8000, pcm_b64=""))
    b.publish(bus.AudioFrame(call_id="c2", source="caller", sample_rate=8000, pcm_b64=""))
    b.publish(bus.CallEnded(call_id="c1"))
    assert isinstance(await listener.get(), bus.AudioFrame)
    assert isinstance(await listener.get(), bus.CallEnded)
    assert isinstance(await plain.get(), bus.CallEnded)


async def test_commands_without_a_bot_get_a_clear_answer() -> None:
    b = bus.EventBus()
    assert await b.send_command(bus.HangupCommand(call_id="c")) == "no bot is attached to this bus"

    async def handler(cmd: bus.MonitorCommand) -> str | None:
        return None if cmd.call_id == "c" else "no such call"

    b.set_command_handler(handler)
    assert await b.send_command(bus.HangupCommand(call_id="c")) is None
    assert await b.send_command(bus.HangupCommand(call_id="x")) == "no such call"
