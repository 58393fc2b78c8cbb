"""The send point for bot audio, and the playback clock that knows what the caller heard.

The Stream Node queues playAudio events and plays them back to back in real time, and
tells the bot nothing about it. So the bot keeps its own model of the caller's speaker:
every chunk sent is scheduled at max(now, end of what is already queued) for its
duration (`PlaybackClock`). From that model follow:

- what the caller has heard when a reply is cut (`heard_text`): each chunk has a start
  and a duration, so at the cut instant each sentence is known to be heard in full, in
  part (words in proportion to time) or not at all;
- when a transfer or goodbye line has finished playing (`wait_played`);
- pacing: the `Speaker` sends at most `lead_ms` ahead of the caller's playback, so a
  killAudio never has to throw away much and the recording timeline stays true;
- the chunk size: the first chunk after silence is small (`first_chunk_ms`, heard
  sooner), the following ones `chunk_ms` (fewer events).

Epochs: the session bumps `Speaker.epoch` whenever it kills a reply. Every send names
the epoch it belongs to and is dropped, right at the send point, if that epoch is stale,
so output of a cancelled reply that was already in flight never reaches the caller.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from voice import protocol
from voice.audio import chunk_bytes
from voice.clock import Clock

SendText = Callable[[str], Awaitable[None]]
AudioTap = Callable[[bytes, float], None]

# Speaking rate used to estimate a sentence's length while its audio is still being
# synthesised (about 150 words a minute).
EST_MS_PER_CHAR = 65.0


class PlaybackClock:
    """When the caller's speaker is busy, inferred from what was sent and when."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.busy_until = -math.inf

    def schedule(self, duration_s: float) -> float:
        """Register a chunk sent now; returns when it starts playing."""
        start = max(self.clock.now(), self.busy_until)
        self.busy_until = start + duration_s
        return start

    def playing(self) -> bool:
        return self.busy_until > self.clock.now()

    def remaining(self) -> float:
        return max(0.0, self.busy_until - self.clock.now())

    def stop(self) -> None:
        """After killAudio: nothing is queued at the caller any more."""
        self.busy_until = min(self.busy_until, self.clock.now())

    async def wait_played(self, margin_s: float = 0.0) -> None:
        """Return once everything sent so far has played (plus `margin_s`)."""
        while True:
            left = self.busy_until + margin_s - self.clock.now()
            if left <= 0:
                return
            await self.clock.sleep(left)


@dataclass(slots=True)
class Utterance:
    """One piece of text being spoken (a sentence, a prompt) and the chunks that carry it."""

    text: str
    chunks: list[tuple[float, float]] = field(default_factory=list)  # (start, duration) seconds
    complete: bool = False  # all of its audio has been sent

    @property
    def sent_s(self) -> float:
        return sum(d for _, d in self.chunks)

    def played_s(self, at: float) -> float:
        return sum(min(d, max(0.0, at - s)) for s, d in self.chunks)

    def heard(self, at: float) -> tuple[str, bool]:
        """(heard prefix, heard in full) at instant `at`."""
        if not self.chunks:
            return "", False
        total = self.sent_s if self.complete else max(self.sent_s, len(self.text) * EST_MS_PER_CHAR / 1000)
        played = self.played_s(at)
        if total <= 0 or played >= total - 1e-6:
            return self.text, True
        words = self.text.split()
        n = int(len(words) * played / total)
        return " ".join(words[:n]), False


def heard_text(utterances: list[Utterance], at: float) -> str:
    """What the caller heard of a reply cut at `at`: whole sentences, then a word prefix."""
    parts: list[str] = []
    for utt in utterances:
        text, full = utt.heard(at)
        if text:
            parts.append(text)
        if not full:
            break
    return " ".join(parts)


class Speaker:
    """The only way bot audio reaches a call: paced, chunked, epoch-checked sends."""

    def __init__(
        self,
        send_text: SendText,
        sample_rate: int,
        clock: Clock,
        *,
        first_chunk_ms: int = 40,
        chunk_ms: int = 100,
        lead_ms: int = 800,
        tap: AudioTap | None = None,
        on_kill: Callable[[float], None] | None = None,
    ) -> None:
        self._send = send_text
        self.sample_rate = sample_rate
        self.clock = clock
        self.playback = PlaybackClock(clock)
        self.first_bytes = chunk_bytes(sample_rate, first_chunk_ms)
        self.chunk_bytes = chunk_bytes(sample_rate, chunk_ms)
        self.lead_s = lead_ms / 1000
        self.tap = tap
        self.on_kill = on_kill  # told the instant of every killAudio (the echo reference ends there)
        self.epoch = 0
        self.chunks_sent = 0
        self.killed_at: float | None = None

    def target_bytes(self) -> int:
        """Small chunk when the caller hears nothing right now, normal chunk otherwise."""
        return self.chunk_bytes if self.playback.playing() else self.first_bytes

    async def send_chunk(self, pcm: bytes, epoch: int, utterance: Utterance | None = None) -> bool:
        """Send one chunk now (after pacing); False if its epoch went stale meanwhile."""
        if not pcm:
            return True
        while True:
            if epoch != self.epoch:
                return False
            ahead = self.playback.busy_until - self.clock.now()
            if ahead <= self.lead_s:
                break
            await self.clock.sleep(ahead - self.lead_s)
        if epoch != self.epoch:
            return False
        duration = len(pcm) / 2 / self.sample_rate
        start = self.playback.schedule(duration)
        if utterance is not None:
            utterance.chunks.append((start, duration))
        self.chunks_sent += 1
        await self._send(protocol.play_audio(pcm, self.sample_rate))
        if self.tap is not None:
            self.tap(pcm, start)
        return True

    async def kill(self) -> float:
        """killAudio: bump the epoch (stale sends die), clear the caller's queue; returns when."""
        self.epoch += 1
        now = self.clock.now()
        self.killed_at = now
        self.playback.stop()
        if self.on_kill is not None:
            self.on_kill(now)
        await self._send(protocol.KILL_AUDIO)
        return now

    def new_epoch(self) -> int:
        """Start a new reply without killing audio (the previous one ended by itself)."""
        self.epoch += 1
        return self.epoch


class ChunkPlayer:
    """Feeds a stream of PCM pieces of one reply to the Speaker in well-sized chunks."""

    def __init__(self, speaker: Speaker, epoch: int, on_start: Callable[[Utterance], None] | None = None) -> None:
        self.speaker = speaker
        self.epoch = epoch
        self.on_start = on_start
        self._buf = bytearray()
        self.first_sent_at: float | None = None

    @property
    def stale(self) -> bool:
        return self.epoch != self.speaker.epoch

    async def feed(self, pcm: bytes, utterance: Utterance) -> bool:
        """Queue PCM of `utterance`; sends every full chunk. False once stale."""
        self._buf += pcm
        while True:
            target = self.speaker.target_bytes()
            if len(self._buf) < target:
                return not self.stale
            if not await self._send(bytes(self._buf[:target]), utterance):
                return False
            del self._buf[:target]

    async def end(self, utterance: Utterance) -> bool:
        """The utterance's audio is complete: send the remainder at once, don't hold it."""
        rest = bytes(self._buf[: len(self._buf) - len(self._buf) % 2])
        self._buf.clear()
        ok = await self._send(rest, utterance) if rest else not self.stale
        if ok:
            utterance.complete = True
        return ok

    async def play(self, pcm: bytes, utterance: Utterance) -> bool:
        """A whole pre-rendered clip (greeting, prompts)."""
        return await self.feed(pcm, utterance) and await self.end(utterance)

    async def _send(self, pcm: bytes, utterance: Utterance) -> bool:
        first = not utterance.chunks
        ok = await self.speaker.send_chunk(pcm, self.epoch, utterance)
        if ok and self.first_sent_at is None:
            self.first_sent_at = self.speaker.clock.now()
        if ok and first and self.on_start is not None:
            self.on_start(utterance)  # as soon as its first chunk is out, not after pacing
        return ok
