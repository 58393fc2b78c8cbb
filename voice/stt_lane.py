"""The speech-recognition lane of a call: open a stream, feed it, read it, reopen it.

Caller audio is queued by `feed` on the input path (never blocking it) and sent to the
current STT stream by a feeder task; a reader task hands every result to
`on_transcript`. A stream whose send never waits (every adapter here buffers for its own
worker: `NonBlockingSend`) gets each frame in place while the queue is empty: the
feeder's wake-up per frame per call was a task step for nothing. When the stream cannot
be opened, fails or ends, the lane reopens it after a backoff that doubles up to
`backoff_max_s` and starts over once a stream has lived `healthy_after_s`. Audio is
popped from the queue only once sent, so what a dying stream did not take goes to the
next one; the queue keeps at most `buffer_s` seconds (the oldest audio goes first), so a
long outage cannot grow it without bound. All waiting is on the call's `Clock`, so tests
drive it by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from kcommon.backoff import Backoff
from voice.clock import Clock
from voice.providers.base import STTProvider, STTStream, Transcript

OnTranscript = Callable[[Transcript], Awaitable[None]]

FIRST_BACKOFF_S = 0.2


class SttLane:
    """One call's STT: `feed(pcm)` from the input path, `await run()` in a task, `close()`."""

    def __init__(
        self,
        provider: STTProvider,
        *,
        sample_rate: int,
        call_id: str,
        clock: Clock,
        on_transcript: OnTranscript,
        log: logging.Logger | logging.LoggerAdapter[Any],
        buffer_s: float = 10.0,
        backoff_max_s: float = 5.0,
        healthy_after_s: float = 5.0,
    ) -> None:
        self.provider = provider
        self.sample_rate = sample_rate
        self.call_id = call_id
        self.clock = clock
        self.on_transcript = on_transcript
        self.log = log
        self.buffer_bytes = int(buffer_s * sample_rate * 2)
        self.backoff_max_s = backoff_max_s
        self.backoff = Backoff(base=FIRST_BACKOFF_S, factor=2.0, cap=max(FIRST_BACKOFF_S, backoff_max_s), jitter=0.0)
        self.healthy_after_s = healthy_after_s
        self.stream: STTStream | None = None
        self.opened = 0  # streams opened so far (a reconnect count, for tests and stats)
        self._audio: deque[bytes] = deque()
        self._audio_bytes = 0
        # the open stream's send_nowait (NonBlockingSend), while nothing is queued before it
        self._send_now: Callable[[bytes], None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    @property
    def queued_bytes(self) -> int:
        """Caller audio waiting to be sent to the recogniser."""
        return self._audio_bytes

    def feed(self, pcm: bytes) -> None:
        """Hand caller audio over (never waits): straight to a stream that takes it without
        waiting when nothing is queued ahead of it, else into the queue, whose oldest audio
        goes once over `buffer_s`."""
        if self._send_now is not None and not self._audio:
            try:
                self._send_now(pcm)
                return
            except Exception as exc:  # noqa: BLE001 - the feeder retries it and, if it fails again, reconnects
                self.log.debug("speech recognition did not take audio in place (%r); queueing it", exc)
                self._send_now = None
        self._audio.append(pcm)
        self._audio_bytes += len(pcm)
        while self._audio_bytes > self.buffer_bytes and len(self._audio) > 1:
            self._audio_bytes -= len(self._audio.popleft())
        self._wake.set()

    async def run(self) -> None:
        """Open the STT stream, feed it, read it; reopen with backoff if it dies."""
        attempt = 1  # the one backoff's attempt number (no jitter: one call, one socket)
        while not self._closing:
            try:
                stream = await self.provider.open(sample_rate=self.sample_rate, call_id=self.call_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any vendor failure: retry after the backoff
                backoff = self.backoff.delay(attempt, 0.0)
                attempt += 1
                self.log.warning("could not open speech recognition: %s (retry in %.1f s)", exc, backoff)
                await self.clock.sleep(backoff)
                continue
            self.stream = stream
            self.opened += 1
            self._send_now = getattr(stream, "send_nowait", None)
            opened_at = self.clock.now()
            feeder = asyncio.create_task(self._feed(stream), name=f"stt-feed-{self.call_id}")
            reader = asyncio.create_task(self._read(stream), name=f"stt-read-{self.call_id}")
            try:
                done, _ = await asyncio.wait({feeder, reader}, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    failure = t.exception()
                    if failure is not None:
                        self.log.warning("speech recognition stream failed: %s; reconnecting", failure)
                        break
                else:
                    self.log.warning("speech recognition stream ended; reconnecting")
                # a stream that lived a while earns a fresh backoff; one that dies at once does not
                lived = self.clock.now() - opened_at
                attempt = 1 if lived > self.healthy_after_s else attempt + 1
                backoff = self.backoff.delay(attempt, 0.0)
            finally:
                self._send_now = None
                for t in (feeder, reader):
                    t.cancel()
                await asyncio.gather(feeder, reader, return_exceptions=True)
                if self.stream is stream:
                    self.stream = None
                    await self._close_stream(stream)
            await self.clock.sleep(backoff)

    def stop(self) -> None:
        """No reconnect from now on (the call is closing); `close()` finishes the job."""
        self._closing = True

    async def close(self) -> None:
        """Stop reconnecting and close the current stream, if any. Idempotent."""
        self._closing = True
        self._send_now = None
        stream, self.stream = self.stream, None
        if stream is not None:
            await self._close_stream(stream)

    async def _close_stream(self, stream: STTStream) -> None:
        try:
            await asyncio.wait_for(stream.close(), 2.0)
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not self._closing:
                raise
            self.log.debug("closing speech recognition: %r", exc)

    async def _feed(self, stream: STTStream) -> None:
        while True:
            while not self._audio:
                self._wake.clear()
                await self._wake.wait()
            pcm = self._audio[0]
            await stream.send(pcm)
            # popped only once sent: if the stream died mid-send, the next one gets it
            if self._audio and self._audio[0] is pcm:
                self._audio.popleft()
                self._audio_bytes -= len(pcm)

    async def _read(self, stream: STTStream) -> None:
        async for tr in stream.results():
            await self.on_transcript(tr)
