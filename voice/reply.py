"""`Reply`: one thing the bot says, and the small pieces every way of saying it shares.

Every spoken thing (greeting, answer, supervisor line, resume, apology, the last line
of a transfer or hang-up) is a `Reply` with the Speaker epoch current when it started.
A barge-in kills audio (epoch +1), so whatever a cancelled reply still had in flight is
dropped at the send point. Each sentence (`Utterance`) records the chunks that carried
it, so a cut at instant T knows what the caller heard (`unheard` is the rest).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from voice.clock import Clock
from voice.metrics import TurnTimer
from voice.playback import ChunkPlayer, Speaker, Utterance, heard_text
from voice.prompts import PromptCache
from voice.providers.base import TTSProvider
from voice.providers.fallback import FallbackTTS, LoggerFor

ReplyKind = Literal["greeting", "answer", "say", "resume", "apology", "final"]


class CallGone(Exception):
    """The caller's socket is closed; the session stops sending and winds down."""


class Stale(Exception):
    """The reply's epoch was killed while its pipeline ran: stop every stage."""


def root_exception(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (TaskGroup wraps what its stages raise)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


@dataclass(eq=False)
class Reply:
    """One thing the bot says, from its first token to its last played sample."""

    kind: ReplyKind
    turn: int
    epoch: int
    timer: TurnTimer
    user_text: str = ""
    interruptible: bool = True
    utterances: list[Utterance] = field(default_factory=list)
    pending_text: list[str] = field(default_factory=list)  # generated, not yet playing
    task: asyncio.Task[None] | None = None
    finalized: bool = False
    cut_at: float | None = None
    spoke_text: bool = False
    voice: FallbackTTS | None = None  # its TTS with failover, made when it first speaks
    hold: asyncio.Event | None = None  # a speculative answer: no audio until this is set

    @property
    def audio_sent(self) -> bool:
        return any(u.chunks for u in self.utterances)

    def heard(self, cut_at: float | None) -> str:
        """What the caller heard of it: everything sent, or up to a cut at `cut_at`."""
        if cut_at is None:
            return " ".join(u.text for u in self.utterances if u.chunks)
        return heard_text(self.utterances, cut_at)

    def cut_short(self, cut_at: float) -> list[tuple[Utterance, str]]:
        """Sentences that had started playing but were not heard in full, with the part heard."""
        out = []
        for utt in self.utterances:
            text, full = utt.heard(cut_at)
            if utt.chunks and not full:
                out.append((utt, text))
        return out

    def unheard(self, at: float) -> list[str]:
        """Sentences the caller did not hear in full (from the one cut), for a resume."""
        out: list[str] = []
        for utt in self.utterances:
            if out or not utt.heard(at)[1]:
                out.append(utt.text)
        return out + list(self.pending_text)


async def feed(player: ChunkPlayer, utt: Utterance, pcm: bytes | None) -> bool:
    """Audio of `utt` to the player (None: the utterance is complete); False once stale."""
    return await (player.end(utt) if pcm is None else player.feed(pcm, utt))


async def play_line(
    reply: Reply, player: ChunkPlayer, text: str, *, prompts: PromptCache, voice: TTSProvider, clock: Clock,
    sample_rate: int,
) -> bool:
    """One line: from the prompt cache when it was rendered ahead, else streamed through TTS."""
    utt = Utterance(text)
    reply.utterances.append(utt)
    pcm = prompts.get(text, sample_rate)
    if pcm is not None:
        reply.timer.mark("tts_first_byte", clock.now())
        return await feed(player, utt, pcm) and await feed(player, utt, None)
    async with closing(voice.synthesize(text, sample_rate=sample_rate)) as pcm_stream:
        async for chunk in pcm_stream:
            reply.timer.mark("tts_first_byte", clock.now())
            if not await feed(player, utt, chunk):
                return False
    return await feed(player, utt, None)


class Voices:
    """How a call's replies are spoken: a `ChunkPlayer` per reply (`on_start` hears of
    each sentence as its first chunk goes out), and per reply a sticky `FallbackTTS` (the
    main voice; once it fails, the fallback voice for the rest of the reply), with
    pre-rendered prompts played from the cache."""

    def __init__(
        self, speaker: Speaker, *, tts: TTSProvider, fallback_tts: TTSProvider | None, prompts: PromptCache,
        clock: Clock, logger_for: LoggerFor, on_start: Callable[[Reply, Utterance], None],
    ) -> None:
        self.speaker = speaker
        self.tts = tts
        self.fallback_tts = fallback_tts
        self.prompts = prompts
        self.clock = clock
        self._logger_for = logger_for
        self._on_start = on_start

    def player(self, reply: Reply) -> ChunkPlayer:
        return ChunkPlayer(self.speaker, reply.epoch, lambda utt: self._on_start(reply, utt))

    def voice(self, reply: Reply) -> FallbackTTS:
        if reply.voice is None:
            reply.voice = FallbackTTS(self.tts, self.fallback_tts, sticky=True, logger_for=self._logger_for)
        return reply.voice

    async def line(self, reply: Reply, player: ChunkPlayer, text: str) -> bool:
        """One line: from the prompt cache when it was rendered ahead, else streamed through TTS."""
        return await play_line(reply, player, text, prompts=self.prompts, voice=self.voice(reply), clock=self.clock,
                               sample_rate=self.speaker.sample_rate)


@contextlib.asynccontextmanager
async def closing(stream: Any) -> AsyncIterator[Any]:
    """Close an async generator from a provider when we stop early (cancel, barge-in)."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
