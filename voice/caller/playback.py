"""The line's two ends, timed as a telephone plays them: what the caller hears and says.

`Playback` is the caller's ear: playAudio chunks go into a queue that is "heard" at
(compressed) real time, back to back; killAudio empties the queue and stops playback
at once. `Voice` is the caller's mouth: the utterance being spoken, else silence, one
20 ms frame at a time. `Notifier` wakes whoever waits on either.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from voice.audio import chunk_bytes, duration_ms
from voice.caller.options import FRAME_MS, CallerOptions
from voice.caller.report import BotReply

MIN_QUIET_WALL_S = 0.15
MAX_BEHIND_S = 1.0  # a sender this far (wall time) behind its frame schedule loses frames instead
SINK_LEAD_S = 0.06  # audio handed to a speaker ahead of the playback clock


class Notifier:
    """Wake every waiter whenever the call's state changes; waiters re-check their condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """True once `predicate()` holds; False if `timeout` seconds pass first.

        Uses asyncio.timeout, not asyncio.wait_for: on Python 3.11 wait_for can swallow
        a cancellation that coincides with the event firing, and a call would hang.
        """
        if predicate():
            return True
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._event.wait()
        except TimeoutError:
            return predicate()
        return True


class Playback:
    """The caller's ear: bot audio queued and heard back to back at (compressed) real time.

    Like the Stream Node, chunks are played in arrival order with no gap; `kill`
    drops the queue and stops within one 20 ms slice. A reply (`BotReply`) opens
    with the first chunk heard after silence and closes when the queue has been
    empty for the quiet gap, or at once on killAudio.
    """

    def __init__(
        self,
        options: CallerOptions,
        notifier: Notifier,
        *,
        on_reply_opened: Callable[[BotReply], None],
        on_reply_closed: Callable[[BotReply], None],
    ) -> None:
        self.options = options
        self.notifier = notifier
        self.sink = options.sink
        self._on_opened = on_reply_opened
        self._on_closed = on_reply_closed
        self.queue: deque[bytes] = deque()
        self.reply: BotReply | None = None
        self.replies_started = 0
        self.real_end_wall = 0.0  # when the bot's own playback clock says its audio has been played
        self._generation = 0
        self._parts: list[bytes] = []
        self._wake = asyncio.Event()

    def enqueue(self, pcm: bytes, now_ms: float) -> None:
        if self.reply is None:
            self.reply = BotReply(start_ms=now_ms)
            self.replies_started += 1
            self._on_opened(self.reply)
        self.reply.audio_ms += duration_ms(len(pcm), self.options.sample_rate)
        self._parts.append(pcm)
        now = time.monotonic()
        seconds = duration_ms(len(pcm), self.options.sample_rate) / 1000 / self.options.bot_speed
        self.real_end_wall = max(self.real_end_wall, now) + seconds
        self.queue.append(pcm)
        self._wake.set()
        self.notifier.notify()

    def kill(self) -> BotReply | None:
        """killAudio: nothing queued survives; the current reply ends as interrupted."""
        self.queue.clear()
        self._generation += 1
        self.real_end_wall = time.monotonic()
        if self.sink is not None:
            self.sink.clear()
        reply = self.reply
        if reply is not None:
            reply.interrupted = True
            self.close_reply()
        self._wake.set()
        return reply

    def close_reply(self) -> None:
        reply, self.reply = self.reply, None
        if reply is None:
            return
        reply.pcm, self._parts = b"".join(self._parts), []
        self._on_closed(reply)
        self.notifier.notify()

    async def run(self) -> None:
        slice_bytes = chunk_bytes(self.options.sample_rate, FRAME_MS)
        speed = self.options.speed
        quiet_s = max(self.options.quiet_gap_ms / 1000 / speed, MIN_QUIET_WALL_S)
        loop = asyncio.get_running_loop()
        anchor = loop.time()  # wall time at which `played_s` (compressed) audio started
        played_s = 0.0
        while True:
            if not self.queue:
                self._wake.clear()
                if self.reply is not None:
                    try:
                        async with asyncio.timeout(quiet_s):
                            await self._wake.wait()
                    except TimeoutError:
                        if not self.queue:
                            self.close_reply()
                else:
                    await self._wake.wait()
                continue
            chunk = self.queue.popleft()
            generation = self._generation
            if loop.time() > anchor + played_s / speed:  # after an underrun, play from now
                anchor, played_s = loop.time(), 0.0
            for off in range(0, len(chunk), slice_bytes):
                if generation != self._generation:
                    break
                piece = chunk[off : off + slice_bytes]
                if self.sink is not None:
                    self.sink.write(piece)
                piece_s = len(piece) / 2 / self.options.sample_rate
                played_s += piece_s
                if self.reply is not None:
                    self.reply.heard_ms += piece_s * 1000
                    self.notifier.notify()
                # A real speaker needs a little audio in hand or it clicks at every slice:
                # with a sink, run SINK_LEAD_S ahead of the playback clock.
                ahead = SINK_LEAD_S if self.sink is not None else 0.0
                delay = anchor + max(0.0, played_s - ahead) / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)


class Voice:
    """The caller's mouth: the utterance being spoken, else silence, one frame at a time."""

    def __init__(self, frame_bytes: int) -> None:
        self.frame_bytes = frame_bytes
        self.silence = bytes(frame_bytes)
        self._pcm = b""
        self._offset = 0
        self._started: asyncio.Future[float] | None = None
        self._done: asyncio.Future[float] | None = None

    def say(self, pcm: bytes) -> tuple[asyncio.Future[float], asyncio.Future[float]]:
        """Start an utterance; the futures resolve with the send times of its first and last frame."""
        loop = asyncio.get_running_loop()
        pad = (-len(pcm)) % self.frame_bytes
        self._pcm, self._offset = pcm + bytes(pad), 0
        self._started, self._done = loop.create_future(), loop.create_future()
        return self._started, self._done

    def next_frame(self) -> tuple[bytes, bool, bool]:
        """(frame, is the utterance's first frame, is its last frame)."""
        if self._offset >= len(self._pcm):
            return self.silence, False, False
        frame = self._pcm[self._offset : self._offset + self.frame_bytes]
        first = self._offset == 0
        self._offset += self.frame_bytes
        return frame, first, self._offset >= len(self._pcm)

    def sent(self, t_ms: float, first: bool, last: bool) -> None:
        if first and self._started is not None and not self._started.done():
            self._started.set_result(t_ms)
        if last and self._done is not None and not self._done.done():
            self._done.set_result(t_ms)


# What goes on the wire for one frame: the frame itself, or what a simulated phone line
# lets through by now (args: frame, when it was due, now; seconds of call time).
Line = Callable[[bytes, float, float], list[bytes]]


def direct(frame: bytes, due: float, now: float) -> list[bytes]:
    """No simulated line: the frame goes out as it is."""
    return [frame]


async def send_frames(
    ws: ClientConnection, voice: Voice, speed: float, now_ms: Callable[[], float], line: Line = direct,
    origin: float | None = None,
) -> None:
    """One frame every 20 ms (÷ speed), on the caller's own sample clock.

    Frame k holds call time [(k-1) x 20 ms, k x 20 ms) and leaves when its last sample
    has been "recorded", at `origin` + k x 20 ms ÷ speed (`origin`: the loop time the
    call's clock starts at; default now). The schedule is absolute: a late wake-up sends
    late, back to back to catch up as a real sender's queued frames go after a stall, but
    never moves the frames after it, and no frame's content depends on when the loop woke
    (the line's echo is placed by sample count). Over MAX_BEHIND_S behind, frames are lost
    as on a real line rather than sent seconds late in one burst (they still pass through
    the line, so its speaker stays on the clock). Returns when the connection closes.
    """
    loop = asyncio.get_running_loop()
    period = FRAME_MS / 1000 / speed
    start = loop.time() if origin is None else origin
    k = 0
    while True:
        k += 1
        due_wall = start + k * period
        delay = due_wall - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        frame, first, last = voice.next_frame()
        now = loop.time()
        try:
            out = line(frame, k * FRAME_MS / 1000, (now - start) * speed)
            if now - due_wall <= MAX_BEHIND_S:
                for piece in out:
                    await ws.send(piece)
        except ConnectionClosed:
            return
        if first or last:
            voice.sent(now_ms(), first, last)


async def stream_mic(
    ws: ClientConnection, mic: AsyncIterator[bytes], frame_bytes: int, line: Line = direct,
    origin: float | None = None,
) -> bool:
    """The microphone paces itself (real time); frames are re-cut to exactly 20 ms.

    True when the microphone ended (the caller hangs up), False if the connection closed.
    """
    buf = bytearray()
    loop = asyncio.get_running_loop()
    t0 = loop.time() if origin is None else origin
    async for chunk in mic:
        buf += chunk
        while len(buf) >= frame_bytes:
            now = loop.time() - t0
            try:
                for out in line(bytes(buf[:frame_bytes]), now, now):
                    await ws.send(out)
            except ConnectionClosed:
                return False
            del buf[:frame_bytes]
    return True
