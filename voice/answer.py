"""One answer: LLM -> sentences -> TTS -> chunks, under a stall watchdog.

Three stages joined by queues run at once: the LLM's deltas are cut into sentences
(`SentenceSplitter`), each sentence is synthesised as soon as it is complete, and its
audio goes to the `ChunkPlayer` as it arrives, so the caller hears the first sentence
while the LLM is still writing the second. Tool calls (transfer, end call) are
collected for the session to act on once the words have been spoken.

The watchdog fires when the caller has heard nothing for `stall_timeout_s` while
the answer is pending (a vendor that hangs rather than fails). Any stage failing or
the watchdog firing is an `AnswerOutcome.failure` (the session apologises); a reply
killed meanwhile (`Stale`) or a closed socket is `aborted` (nothing more to do).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from voice.clock import Clock
from voice.playback import ChunkPlayer, PlaybackClock, Utterance
from voice.providers.base import (
    ChatMessage,
    LLMProvider,
    TextDelta,
    ToolCall,
    ToolSpec,
    TTSProvider,
)
from voice.reply import CallGone, Reply, Stale, closing, feed, root_exception
from voice.sentences import SentenceSplitter

AudioItem = tuple[Utterance, bytes | None]


def _ms(at: float | None, since: float) -> str:
    return "-" if at is None else f"{(at - since) * 1000:.0f} ms"


@dataclass
class AnswerOutcome:
    tool_calls: list[ToolCall] = field(default_factory=list)
    failure: str | None = None
    aborted: bool = False


@dataclass
class AnswerPipeline:
    """What an answer needs from the call: its LLM and tools, the clock, the playback."""

    llm: LLMProvider
    tools: Sequence[ToolSpec]
    clock: Clock
    playback: PlaybackClock
    sample_rate: int
    stall_timeout_s: float
    log: logging.Logger | logging.LoggerAdapter[Any]

    async def run(
        self, reply: Reply, messages: Sequence[ChatMessage], player: ChunkPlayer, voice: TTSProvider
    ) -> AnswerOutcome:
        """Speak the LLM's answer through `player`; says how it ended, never raises for a stage."""
        pipeline = asyncio.create_task(self._pipeline(reply, messages, player, voice), name="answer-pipeline")
        watchdog = asyncio.create_task(self._watchdog(), name="answer-watchdog")
        try:
            done, _ = await asyncio.wait({pipeline, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            if pipeline not in done:
                return AnswerOutcome(failure=f"stalled: nothing to play for {self.stall_timeout_s:.1f} s")
            exc = pipeline.exception()
            root = root_exception(exc) if exc is not None else None
            if isinstance(root, (CallGone, Stale)):
                return AnswerOutcome(aborted=True)
            if root is not None:
                return AnswerOutcome(failure=f"{type(root).__name__}: {root}")
            return AnswerOutcome(tool_calls=pipeline.result())
        finally:
            for t in (pipeline, watchdog):
                t.cancel()
            await asyncio.gather(pipeline, watchdog, return_exceptions=True)

    async def _pipeline(
        self, reply: Reply, messages: Sequence[ChatMessage], player: ChunkPlayer, voice: TTSProvider
    ) -> list[ToolCall]:
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        audio: asyncio.Queue[AudioItem | None] = asyncio.Queue()
        tool_calls: list[ToolCall] = []
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._llm_stage(reply, messages, sentences, tool_calls))
            tg.create_task(self._tts_stage(reply, voice, sentences, audio))
            await self._play_stage(reply, audio, player)
        return tool_calls

    async def _llm_stage(
        self, reply: Reply, messages: Sequence[ChatMessage], out: asyncio.Queue[str | None], tool_calls: list[ToolCall]
    ) -> None:
        splitter = SentenceSplitter()
        timer = reply.timer
        started = self.clock.now()
        first_token: float | None = None
        count = chars = 0
        model = getattr(self.llm, "model", None)
        self.log.info("Stream request | %smessages=%d tools=%d", f"model={model} " if model else "", len(messages),
                      len(self.tools))

        async def emit(sentence: str) -> None:
            nonlocal count, chars
            timer.mark("first_sentence", self.clock.now())
            self.log.info("Sentence | text=%r", sentence)
            count += 1
            chars += len(sentence)
            reply.pending_text.append(sentence)
            await out.put(sentence)

        async with closing(self.llm.stream(messages, self.tools)) as deltas:
            async for delta in deltas:
                timer.mark("llm_first_token", self.clock.now())
                if first_token is None:
                    first_token = self.clock.now()
                if isinstance(delta, TextDelta):
                    for sentence in splitter.push(delta.text):
                        await emit(sentence)
                elif isinstance(delta, ToolCall):
                    tool_calls.append(delta)
        for sentence in splitter.flush():
            await emit(sentence)
        now = self.clock.now()
        self.log.info("Completion | sentences=%d chars=%d tool_calls=%s | first token %s | total %.0f ms", count, chars,
                      "[" + ", ".join(c.name for c in tool_calls) + "]", _ms(first_token, started), (now - started) * 1000)
        await out.put(None)

    async def _tts_stage(
        self, reply: Reply, voice: TTSProvider, sentences: asyncio.Queue[str | None], out: asyncio.Queue[AudioItem | None]
    ) -> None:
        child = getattr(self.log, "child", None)
        tlog = child(getattr(voice, "name", "tts")) if callable(child) else self.log
        while (text := await sentences.get()) is not None:
            utt = Utterance(text)
            started = self.clock.now()
            first: float | None = None
            chunks = size = 0
            tlog.debug("TTS stream request | chars=%d", len(text))
            async with closing(voice.synthesize(text, sample_rate=self.sample_rate)) as pcm_stream:
                async for pcm in pcm_stream:
                    reply.timer.mark("tts_first_byte", self.clock.now())
                    if first is None:
                        first = self.clock.now()
                    chunks += 1
                    size += len(pcm)
                    await out.put((utt, pcm))
            tlog.info("Stream summary | chars=%d | chunks received=%d (%.0f ms of audio) | first chunk %s | total %.0f ms",
                      len(text), chunks, size / 2 / self.sample_rate * 1000, _ms(first, started),
                      (self.clock.now() - started) * 1000)
            await out.put((utt, None))
        await out.put(None)

    async def _play_stage(self, reply: Reply, audio: asyncio.Queue[AudioItem | None], player: ChunkPlayer) -> None:
        current: Utterance | None = None
        while (item := await audio.get()) is not None:
            if reply.hold is not None and not reply.hold.is_set():
                await reply.hold.wait()  # speculative: prepared, not spoken before the turn is confirmed
            utt, pcm = item
            if utt is not current:
                current = utt
                reply.utterances.append(utt)
                if utt.text in reply.pending_text:
                    reply.pending_text.remove(utt.text)
            if not await feed(player, utt, pcm):
                raise Stale()

    async def _watchdog(self) -> None:
        """Returns (= fires) once the caller has heard nothing for stall_timeout_s mid-turn."""
        start = self.clock.now()
        while True:
            idle_since = max(start, self.playback.busy_until)
            left = idle_since + self.stall_timeout_s - self.clock.now()
            if left <= 0:
                return
            await self.clock.sleep(left)
