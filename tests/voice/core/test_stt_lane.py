"""SttLane on a ManualClock: reconnect with backoff, nothing lost across streams, a bounded queue."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator

import pytest

from voice.clock import ManualClock
from voice.providers.base import ProviderError, Transcript
from voice.stt_lane import SttLane

RATE = 16000
FRAME = bytes(640)


class Stream:
    def __init__(self, *, fail_after_sends: int | None = None) -> None:
        self.sent: list[bytes] = []
        self.closed = False
        self.fail_after_sends = fail_after_sends
        self.results_q: asyncio.Queue[Transcript | None] = asyncio.Queue()

    async def send(self, pcm: bytes) -> None:
        if self.fail_after_sends is not None and len(self.sent) >= self.fail_after_sends:
            raise ProviderError("socket dropped")
        self.sent.append(pcm)

    async def results(self) -> AsyncIterator[Transcript]:
        while (tr := await self.results_q.get()) is not None:
            yield tr

    async def close(self) -> None:
        self.closed = True


class Provider:
    """Opens the scripted streams in order; an exception in the script is raised by open()."""

    def __init__(self, script: list[Stream | Exception]) -> None:
        self.script = script
        self.opens: list[float] = []
        self.clock: ManualClock | None = None

    async def open(self, *, sample_rate: int, call_id: str) -> Stream:
        assert self.clock is not None
        self.opens.append(self.clock.now())
        item = self.script.pop(0) if self.script else Stream()
        if isinstance(item, Exception):
            raise item
        return item


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def lane(provider: Provider, clock: ManualClock, got: list[Transcript], **kw: float) -> SttLane:
    provider.clock = clock

    async def on_transcript(tr: Transcript) -> None:
        got.append(tr)

    return SttLane(provider, sample_rate=RATE, call_id="c1", clock=clock, on_transcript=on_transcript,
                   log=logging.getLogger("test.stt"), **kw)


async def test_open_failures_back_off_doubling_and_audio_waits_for_the_stream() -> None:
    clock = ManualClock(start=0.0)
    good = Stream()
    provider = Provider([ProviderError("down"), ProviderError("down"), ProviderError("down"), good])
    got: list[Transcript] = []
    stt = lane(provider, clock, got)
    for i in range(3):
        stt.feed(bytes([i]) * 640)
    task = asyncio.create_task(stt.run())
    await clock.advance(2.0)
    # retries 0.2 s, then 0.4 s, then 0.8 s after each failure
    assert gaps(provider.opens) == pytest.approx([0.2, 0.4, 0.8], abs=0.011)
    assert good.sent == [bytes([i]) * 640 for i in range(3)]  # queued while down, delivered in order
    assert stt.queued_bytes == 0 and stt.opened == 1
    await good.results_q.put(Transcript(text="hello", final=True))
    await clock.advance(0.05)
    assert [t.text for t in got] == ["hello"]
    await stt.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert good.closed


async def test_a_dying_stream_is_reopened_and_the_unsent_frame_goes_to_the_next() -> None:
    clock = ManualClock(start=0.0)
    first, second = Stream(fail_after_sends=1), Stream()
    provider = Provider([first, second])
    stt = lane(provider, clock, [])
    task = asyncio.create_task(stt.run())
    stt.feed(b"a" * 640)
    stt.feed(b"b" * 640)
    await clock.advance(1.0)
    assert first.sent == [b"a" * 640] and first.closed
    assert second.sent == [b"b" * 640]  # not lost with the first stream
    assert gaps(provider.opens) == pytest.approx([0.4], abs=0.011)  # died at once: the backoff doubled
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stt.close()


async def test_a_stream_that_lived_a_while_earns_a_fresh_backoff() -> None:
    clock = ManualClock(start=0.0)
    first, second = Stream(), Stream()
    provider = Provider([first, second])
    stt = lane(provider, clock, [], healthy_after_s=5.0)
    task = asyncio.create_task(stt.run())
    await clock.advance(6.0)
    await first.results_q.put(None)  # the vendor ends the stream after 6 s
    for _ in range(10):  # let the lane see it end (no clock time passes)
        await asyncio.sleep(0)
    ended_at = clock.now()
    await clock.advance(1.0)
    assert len(provider.opens) == 2 and provider.opens[1] - ended_at == pytest.approx(0.2, abs=0.011)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stt.close()


async def test_the_queue_keeps_at_most_buffer_s_of_audio() -> None:
    clock = ManualClock(start=0.0)
    stt = lane(Provider([]), clock, [], buffer_s=1.0)
    for _ in range(200):  # 4 s of 20 ms frames, no stream to take them
        stt.feed(FRAME)
    assert stt.queued_bytes <= RATE * 2 * 1.0
    assert stt.queued_bytes >= RATE * 2 * 1.0 - len(FRAME)


class NowStream(Stream):
    """A stream that takes audio without waiting (NonBlockingSend), counting how it came."""

    def __init__(self, *, fail_after_sends: int | None = None) -> None:
        super().__init__(fail_after_sends=fail_after_sends)
        self.in_place = 0

    def send_nowait(self, pcm: bytes) -> None:
        if self.fail_after_sends is not None and len(self.sent) >= self.fail_after_sends:
            raise ProviderError("socket dropped")
        self.in_place += 1
        self.sent.append(pcm)


async def test_a_stream_that_never_waits_gets_each_frame_in_place_after_the_backlog_in_order() -> None:
    clock = ManualClock(start=0.0)
    stream = NowStream()
    provider = Provider([ProviderError("down"), stream])
    stt = lane(provider, clock, [])
    stt.feed(b"a" * 640)  # no stream yet: queued
    task = asyncio.create_task(stt.run())
    await clock.advance(0.1)
    stt.feed(b"b" * 640)  # the stream is not open yet: behind "a" in the queue
    await clock.advance(0.5)
    assert stream.sent == [b"a" * 640, b"b" * 640] and stream.in_place == 0  # the backlog went by the feeder
    for c in b"cde":
        stt.feed(bytes([c]) * 640)
        assert stream.sent[-1] == bytes([c]) * 640  # handed over at once: no task step in between
    assert stream.in_place == 3 and stt.queued_bytes == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stt.close()


async def test_a_stream_refusing_audio_in_place_loses_nothing_and_is_reopened() -> None:
    clock = ManualClock(start=0.0)
    first, second = NowStream(fail_after_sends=1), NowStream()
    provider = Provider([first, second])
    stt = lane(provider, clock, [])
    task = asyncio.create_task(stt.run())
    await clock.advance(0.01)
    stt.feed(b"a" * 640)
    stt.feed(b"b" * 640)  # raises inside feed(): must neither escape to the uplink nor be lost
    await clock.advance(1.0)
    assert first.sent == [b"a" * 640] and first.closed
    assert second.sent == [b"b" * 640]
    stt.feed(b"c" * 640)
    assert second.sent[-1] == b"c" * 640 and second.in_place == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stt.close()
