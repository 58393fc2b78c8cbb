"""CallSession: one phone call, from the metadata frame to the hang-up.

The server owns the socket; the session owns the conversation. It is driven by three
inputs — `feed_audio` (caller PCM), transcripts from its STT stream, and supervisor
commands (`transfer`, `hangup`, `say`) — and writes only through `Speaker` (playAudio,
paced and epoch-checked) and `_send_control` (killAudio, transfer, disconnect).

Lanes. Audio is produced by the reply task (LLM -> sentences -> TTS -> chunks); control
decisions are taken synchronously on the input path: a confirmed speech onset sends
killAudio from inside `feed_audio`, before the reply task is even told to stop. Nothing
of the control lane ever waits in a queue behind audio.

Replies and epochs. Every spoken thing (greeting, answer, supervisor line, prompt) is a
`Reply` with the Speaker epoch current when it started. A barge-in kills audio (epoch
+1), so whatever the cancelled reply still had in flight is dropped at the send point.

What the caller heard. Each sentence records the chunks that carried it and when the
playback clock says they play; a cut at instant T keeps whole sentences heard before T
and the words of the cut sentence in proportion to the time played. Only that goes into
the LLM history. A reply cut before the caller heard anything leaves its question
"unanswered": it is merged into the caller's next utterance.

Watchdog. A turn that raises (LLM, TTS) or stalls (the caller hears nothing for
`stall_timeout_s` while a reply is pending) ends in a short apology, never silence. A
TTS failure first switches the reply to the fallback (offline) voice. A barge-in that
turns out to be no turn at all (no transcript follows within `resume_after_s` of
quiet) resumes the cut reply from the sentence that was cut.

Supervisor commands. `say` interrupts whatever the bot is saying (a supervisor's line
is urgent, and a reply continuing after it would be stale), speaks the line, and goes
back to listening. `transfer` and `hangup` interrupt, speak their line (not
interruptible by the caller), wait until it has played, then send transfer /
disconnect. `listen` is per monitor subscription and handled by the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from voice import protocol
from voice.audio import duration_ms
from voice.bus import (
    AudioFrame,
    BargeIn,
    BotSentence,
    BotState,
    CallEnded,
    CallStarted,
    EventBus,
    StateChanged,
    TranscriptEvent,
    Transferred,
)
from voice.clock import Clock, MonotonicClock
from voice.config import BotSettings
from voice.logs import CallLog
from voice.metrics import TurnTimer, describe
from voice.playback import ChunkPlayer, Speaker, Utterance, heard_text
from voice.prompts import PromptCache
from voice.providers.base import (
    END_CALL_TOOL,
    TRANSFER_TOOL,
    ChatMessage,
    ProviderError,
    STTStream,
    TextDelta,
    ToolCall,
    ToolSpec,
    Transcript,
    TTSProvider,
)
from voice.recording import CallRecorder
from voice.sentences import SentenceSplitter
from voice.vad import SpeechEnd, SpeechStart, VadConfig, VoiceActivityDetector

if TYPE_CHECKING:
    from voice.metrics import ServerStats
    from voice.providers.factory import ProviderSet

SendText = Callable[[str], Awaitable[None]]
CloseConnection = Callable[[str], Awaitable[None]]

_PHONE = re.compile(r"^\+?[0-9]{3,15}$")


class CallGone(Exception):
    """The caller's socket is closed; the session stops sending and winds down."""


class _Stale(Exception):
    """The reply's epoch was killed while its pipeline ran: stop every stage."""


def _root(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (TaskGroup wraps what its stages raise)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Timing and wording of a call that BotSettings does not carry (tests shrink them)."""

    stall_timeout_s: float = 5.0
    resume_after_s: float = 2.5
    lead_ms: int = 800
    utterance_gap_s: float = 0.8
    close_grace_s: float = 5.0
    stt_backoff_max_s: float = 5.0
    stt_buffer_s: float = 10.0
    interim_barge_in: bool = True
    apology: str = "Sorry, I had trouble with that. Could you say it again?"
    transfer_line: str = "Transferring you now."
    goodbye_line: str = "Thank you for calling. Goodbye!"
    no_transfer_line: str = "Sorry, I can't transfer calls right now."
    vad: VadConfig = field(default_factory=VadConfig)

    def prompt_lines(self, settings: BotSettings) -> list[str]:
        return [settings.greeting, self.apology, self.transfer_line, self.goodbye_line, self.no_transfer_line]


ReplyKind = Literal["greeting", "answer", "say", "resume", "apology", "final"]


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
    tts_failed: bool = False

    @property
    def audio_sent(self) -> bool:
        return any(u.chunks for u in self.utterances)

    def unheard(self, at: float) -> list[str]:
        """Sentences the caller did not hear in full (from the one cut), for a resume."""
        out: list[str] = []
        for utt in self.utterances:
            if out or not utt.heard(at)[1]:
                out.append(utt.text)
        return out + list(self.pending_text)


class CallSession:
    """One call. Create, `await start()`, feed audio, `await close(reason)`."""

    def __init__(
        self,
        *,
        metadata: protocol.CallMetadata,
        call_id: str,
        sample_rate: int,
        send: SendText,
        providers: ProviderSet,
        settings: BotSettings,
        bus: EventBus,
        prompts: PromptCache,
        clock: Clock | None = None,
        options: SessionOptions | None = None,
        recorder: CallRecorder | None = None,
        close_connection: CloseConnection | None = None,
        stats: ServerStats | None = None,
    ) -> None:
        self.metadata = metadata
        self.call_id = call_id
        self.sample_rate = sample_rate
        self.providers = providers
        self.settings = settings
        self.bus = bus
        self.prompts = prompts
        self.clock = clock or MonotonicClock()
        self.options = options or SessionOptions()
        self.recorder = recorder
        self.stats = stats
        self._ws_send = send
        self._close_connection = close_connection
        self.log = CallLog(call_id, "BOT")
        self._klog = self.log.child("KNOWLARITY")
        self._vlog = self.log.child("VAD")
        self._stt_log = self.log.child(getattr(providers.stt, "name", "stt"))
        self._llm_log = self.log.child(getattr(providers.llm, "name", "llm"))
        self.speaker = Speaker(
            self._send_text, sample_rate, self.clock,
            first_chunk_ms=settings.first_chunk_ms, chunk_ms=settings.audio_chunk_ms,
            lead_ms=self.options.lead_ms, tap=self._bot_audio_tap,
        )
        self.vad = VoiceActivityDetector(sample_rate, self.options.vad)
        self.state: BotState = "listening"
        self.history: list[ChatMessage] = []
        self.turn = 0
        self.closed = False
        self.end_reason: str | None = None
        self.started_at = self.clock.now()
        self._reply: Reply | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unanswered = ""
        self._pending_final = ""
        self._final_at: float | None = None
        self._gap_task: asyncio.Task[None] | None = None
        self._resume_task: asyncio.Task[None] | None = None
        self._stt_audio: deque[bytes] = deque()
        self._stt_audio_bytes = 0
        self._stt_wake = asyncio.Event()
        self._stt_stream: STTStream | None = None
        self._last_onset: float | None = None
        self._last_speech_end: float | None = None
        self._speech_since_turn = False
        self._last_stt_activity = -1e18
        self._terminal = False
        self.audio_frames = 0
        self.tools: list[ToolSpec] = ([TRANSFER_TOOL] if settings.transfer_number else []) + [END_CALL_TOOL]

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self, metadata_at: float | None = None) -> None:
        """Greeting first (its task is scheduled before anything else), then STT."""
        self.started_at = metadata_at if metadata_at is not None else self.clock.now()
        self._publish(CallStarted(
            call_id=self.call_id, caller=self.metadata.customer_number, virtual_number=self.metadata.virtual_number,
            call_type=self.metadata.call_type, sample_rate=self.sample_rate,
        ))
        timer = TurnTimer(turn=0, metadata=self.started_at)
        reply = Reply(kind="greeting", turn=0, epoch=self.speaker.epoch, timer=timer)
        self._begin(reply, self._speak_lines(reply, [self.settings.greeting]))
        self._spawn(self._stt_loop(), "stt")

    async def close(self, reason: str) -> None:
        """End the call: cancel every task, close STT, publish CallEnded. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.end_reason = reason
        now = self.clock.now()
        reply = self._reply
        if reply is not None and not reply.finalized:
            self._finalize(reply, cut_at=now if self.speaker.playback.playing() else None)
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        stream, self._stt_stream = self._stt_stream, None
        if stream is not None:
            await self._close_stt(stream)
        self._set_state("ended")
        duration = self.clock.now() - self.started_at
        self._publish(CallEnded(call_id=self.call_id, reason=reason, duration_s=round(duration, 3)))
        if self.recorder is not None:
            self.recorder.close(self.clock.now())
        self.log.info("call ended: %s (%.1f s, %d turns)", reason, duration, self.turn)

    # ---- caller audio (the input path; control decisions happen here) --------------------

    async def feed_audio(self, pcm: bytes) -> None:
        """One binary frame from the Stream Node (already validated: even length)."""
        if self.closed:
            return
        now = self.clock.now()
        self.audio_frames += 1
        if self.recorder is not None:
            self.recorder.caller_audio(pcm, now)
            self.recorder.advance(now)
        if self.bus.wants_audio(self.call_id):
            self._publish(AudioFrame(call_id=self.call_id, source="caller", sample_rate=self.sample_rate,
                                     pcm_b64=base64.b64encode(pcm).decode("ascii")))
        self._queue_stt(pcm)
        for ev in self.vad.push(pcm, now):
            if isinstance(ev, SpeechStart):
                self._last_onset = ev.onset
                self._speech_since_turn = True
                self._vlog.debug("speech onset (confirmed after %.0f ms)", (ev.confirmed - ev.onset) * 1000)
                await self._barge_in(ev.onset, "speech")
            elif isinstance(ev, SpeechEnd):
                self._last_speech_end = ev.end
                if self._pending_final and self._gap_task is None:
                    self._arm_gap_timer()

    # ---- supervisor commands -------------------------------------------------------------

    async def transfer(self, destination: str | None = None) -> str | None:
        """Speak the transfer line, then transfer. Returns an error message or None."""
        dest = destination or self.settings.transfer_number
        if not dest:
            return "no destination given and no TRANSFER_NUMBER configured"
        clean = re.sub(r"[\s().-]", "", dest)
        if not _PHONE.match(clean):
            return f"not a phone number: {dest[:30]!r}"
        if self.closed or self._terminal:
            return "the call is already ending"
        await self._interrupt_for_command()
        self._run_final("transfer", self.options.transfer_line, clean)
        return None

    async def hangup(self, *, goodbye: bool = True) -> str | None:
        if self.closed or self._terminal:
            return "the call is already ending"
        await self._interrupt_for_command()
        self._run_final("disconnect", self.options.goodbye_line if goodbye else None, None)
        return None

    async def say(self, text: str) -> str | None:
        text = text.strip()
        if not text:
            return "nothing to say"
        if self.closed or self._terminal:
            return "the call is already ending"
        await self._interrupt_for_command()
        reply = Reply(kind="say", turn=self.turn, epoch=self.speaker.epoch, timer=TurnTimer(turn=self.turn))
        self._begin(reply, self._speak_lines(reply, [text]))
        return None

    async def _interrupt_for_command(self) -> None:
        self._cancel_resume()
        reply = self._reply
        if reply is not None and not reply.finalized:
            await self._cut(reply, onset=None, publish_barge_in=False)

    # ---- barge-in ------------------------------------------------------------------------

    async def _barge_in(self, onset: float, source: str) -> None:
        """The caller speaks over the bot: kill audio first, then tidy up."""
        reply = self._reply
        if reply is None or reply.finalized or not reply.interruptible or self._terminal:
            return
        await self._cut(reply, onset=onset, publish_barge_in=True, source=source)
        if self._resume_task is None:
            self._resume_task = self._spawn(self._resume_watch(reply), "resume")

    async def _cut(self, reply: Reply, *, onset: float | None, publish_barge_in: bool, source: str = "") -> None:
        playing = reply.audio_sent and self.speaker.playback.playing()
        if playing:
            killed_at = await self._kill()
            if publish_barge_in:
                # overlap began at the later of the caller's onset and the reply's first audio
                began = max(onset, reply.timer.first_audio or onset) if onset is not None else killed_at
                latency = (killed_at - began) * 1000
                self._publish(BargeIn(call_id=self.call_id, latency_ms=round(max(0.0, latency), 2)))
                if self.stats is not None:
                    self.stats.barge_in.add(latency)
                self._vlog.info("barge-in (%s): killAudio %.0f ms after speech onset", source, latency)
            cut_at = killed_at
        else:
            self.speaker.new_epoch()  # in-flight output of this reply is stale from now on
            cut_at = self.clock.now()
            if publish_barge_in:
                self._vlog.info("caller spoke while the bot was %s: reply cancelled", self.state)
        reply.timer.interrupted = True
        reply.cut_at = cut_at
        if reply.task is not None and reply.task is not asyncio.current_task():
            reply.task.cancel()
        self._finalize(reply, cut_at=cut_at)
        self._set_state("listening")

    async def _kill(self) -> float:
        at = await self.speaker.kill()
        if self.recorder is not None:
            self.recorder.cut(at)
        self._klog.info("killAudio sent")
        return at

    async def _resume_watch(self, cut: Reply) -> None:
        """After a barge-in with no transcript following, pick the cut reply up again."""
        try:
            opts = self.options
            while True:
                if self._reply is not cut or self._pending_final or self.closed:
                    return
                now = self.clock.now()
                quiet_from = max(
                    cut.cut_at or 0.0, self._last_stt_activity,
                    self._last_speech_end if self._last_speech_end is not None else -1e18,
                    self.speaker.killed_at or -1e18,
                )
                if self.vad.in_speech:
                    await self.clock.sleep(0.1)
                    continue
                wait = quiet_from + opts.resume_after_s - now
                if wait > 0:
                    await self.clock.sleep(wait)
                    continue
                break
            at = cut.cut_at if cut.cut_at is not None else self.clock.now()
            if cut.kind == "answer" and not cut.audio_sent:
                self.log.info("no new words after the interruption: answering %r again", cut.user_text[:60])
                text, self._unanswered = self._unanswered or cut.user_text, ""
                if text:
                    await self._start_turn(text, stt_final=None, caller_stopped=None)
                return
            rest = cut.unheard(at)
            if not rest:
                return
            self.log.info("no new words after the interruption: resuming (%d sentences)", len(rest))
            reply = Reply(kind="resume", turn=cut.turn, epoch=self.speaker.epoch, timer=TurnTimer(turn=cut.turn),
                          user_text="")
            self._begin(reply, self._speak_lines(reply, rest))
        finally:
            if self._resume_task is asyncio.current_task():
                self._resume_task = None

    def _cancel_resume(self) -> None:
        task, self._resume_task = self._resume_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # ---- STT -------------------------------------------------------------------------------

    def _queue_stt(self, pcm: bytes) -> None:
        self._stt_audio.append(pcm)
        self._stt_audio_bytes += len(pcm)
        limit = int(self.options.stt_buffer_s * self.sample_rate * 2)
        while self._stt_audio_bytes > limit and len(self._stt_audio) > 1:
            self._stt_audio_bytes -= len(self._stt_audio.popleft())
        self._stt_wake.set()

    async def _stt_loop(self) -> None:
        """Open the STT stream, feed it, read it; reopen with backoff if it dies."""
        backoff = 0.2
        while not self.closed:
            try:
                stream = await self.providers.stt.open(sample_rate=self.sample_rate, call_id=self.call_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._stt_log.warning("could not open speech recognition: %s (retry in %.1f s)", exc, backoff)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.options.stt_backoff_max_s)
                continue
            self._stt_stream = stream
            opened_at = self.clock.now()
            feeder = asyncio.create_task(self._stt_feed(stream), name=f"stt-feed-{self.call_id}")
            reader = asyncio.create_task(self._stt_read(stream), name=f"stt-read-{self.call_id}")
            try:
                done, _ = await asyncio.wait({feeder, reader}, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    exc = t.exception()
                    if exc is not None:
                        self._stt_log.warning("speech recognition stream failed: %s; reconnecting", exc)
                        break
                else:
                    self._stt_log.warning("speech recognition stream ended; reconnecting")
                # a stream that lived a while earns a fresh backoff; one that dies at once does not
                backoff = 0.2 if self.clock.now() - opened_at > 5.0 else min(backoff * 2, self.options.stt_backoff_max_s)
            finally:
                for t in (feeder, reader):
                    t.cancel()
                await asyncio.gather(feeder, reader, return_exceptions=True)
                if self._stt_stream is stream:
                    self._stt_stream = None
                    await self._close_stt(stream)
            await self.clock.sleep(backoff)

    async def _close_stt(self, stream: STTStream) -> None:
        try:
            await asyncio.wait_for(stream.close(), 2.0)
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - closing must not raise
            if isinstance(exc, asyncio.CancelledError) and not self.closed:
                raise
            self._stt_log.debug("closing speech recognition: %r", exc)

    async def _stt_feed(self, stream: STTStream) -> None:
        while True:
            while not self._stt_audio:
                self._stt_wake.clear()
                await self._stt_wake.wait()
            pcm = self._stt_audio[0]
            await stream.send(pcm)
            # popped only once sent: if the stream died mid-send, the next one gets it
            if self._stt_audio and self._stt_audio[0] is pcm:
                self._stt_audio.popleft()
                self._stt_audio_bytes -= len(pcm)

    async def _stt_read(self, stream: STTStream) -> None:
        async for tr in stream.results():
            await self._on_transcript(tr)

    async def _on_transcript(self, tr: Transcript) -> None:
        if self.closed or self._terminal:
            return
        text = tr.text.strip()
        now = self.clock.now()
        if not tr.final:
            if not text:
                return
            self._last_stt_activity = now
            self._publish(TranscriptEvent(call_id=self.call_id, text=text, final=False))
            self._stt_log.debug("Transcript (interim) | text=%r", text)
            if self.options.interim_barge_in and self.vad.recent_voice():
                onset = self._last_onset if self.vad.in_speech and self._last_onset is not None else now
                await self._barge_in(onset, "interim transcript")
            return
        if text:
            self._last_stt_activity = now
            self._publish(TranscriptEvent(call_id=self.call_id, text=text, final=True))
            self._stt_log.info("Transcript (final) | text=%r", text)
            self._pending_final = f"{self._pending_final} {text}".strip()
            if self._final_at is None:
                self._final_at = now
        if not self._pending_final:
            return
        if tr.speech_final:
            await self._dispatch_final()
        else:
            self._arm_gap_timer()

    def _arm_gap_timer(self) -> None:
        if self._gap_task is not None:
            self._gap_task.cancel()
        self._gap_task = self._spawn(self._gap_wait(), "utterance-gap")

    async def _gap_wait(self) -> None:
        try:
            while True:
                await self.clock.sleep(self.options.utterance_gap_s)
                if not self.vad.in_speech:
                    break
        finally:
            if self._gap_task is asyncio.current_task():
                self._gap_task = None
        await self._dispatch_final()

    async def _dispatch_final(self) -> None:
        gap, self._gap_task = self._gap_task, None
        if gap is not None and gap is not asyncio.current_task():
            gap.cancel()
        text, self._pending_final = self._pending_final, ""
        final_at, self._final_at = self._final_at, None
        if not text:
            return
        stopped = None
        if self._speech_since_turn:
            stopped = self._last_speech_end if not self.vad.in_speech else self.vad.last_speech_end
            if stopped is not None and final_at is not None and stopped > final_at:
                stopped = None
        self._speech_since_turn = False
        await self._start_turn(text, stt_final=final_at, caller_stopped=stopped)

    # ---- turns -----------------------------------------------------------------------------

    async def _start_turn(self, text: str, *, stt_final: float | None, caller_stopped: float | None) -> None:
        self._cancel_resume()
        reply = self._reply
        if self._terminal:
            return
        if reply is not None and not reply.finalized:
            if not reply.interruptible:
                return
            # A transcript while the bot is still talking or thinking: the caller went on.
            await self._cut(reply, onset=self._last_onset, publish_barge_in=reply.audio_sent, source="transcript")
            if self.closed or self._terminal:
                return
        user_text = f"{self._unanswered} {text}".strip()
        self._unanswered = ""
        self.turn += 1
        timer = TurnTimer(turn=self.turn, caller_stopped=caller_stopped, stt_final=stt_final or self.clock.now())
        answer = Reply(kind="answer", turn=self.turn, epoch=self.speaker.new_epoch(), timer=timer, user_text=user_text)
        self.log.info("turn %d: caller said %r", self.turn, user_text[:200])
        messages = [ChatMessage("system", self.settings.system_prompt), *self.history, ChatMessage("user", user_text)]
        self._begin(answer, self._answer(answer, messages))

    def _begin(self, reply: Reply, coro: Any) -> None:
        self._reply = reply
        reply.task = self._spawn(coro, f"reply-{reply.kind}-{reply.turn}")

    async def _answer(self, reply: Reply, messages: Sequence[ChatMessage]) -> None:
        """LLM -> sentences -> TTS -> chunks, under a watchdog."""
        self._set_state("thinking")
        player = self._player(reply)
        pipeline = asyncio.create_task(self._pipeline(reply, messages, player), name=f"pipeline-{self.call_id}")
        watchdog = asyncio.create_task(self._watchdog(reply), name=f"watchdog-{self.call_id}")
        failure: str | None = None
        tool_calls: list[ToolCall] = []
        try:
            done, _ = await asyncio.wait({pipeline, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            if pipeline in done:
                exc = pipeline.exception()
                root = _root(exc) if exc is not None else None
                if isinstance(root, (CallGone, _Stale)):
                    return
                if root is not None:
                    failure = f"{type(root).__name__}: {root}"
                else:
                    tool_calls = pipeline.result()
            else:
                failure = f"stalled: nothing to play for {self.options.stall_timeout_s:.1f} s"
        finally:
            for t in (pipeline, watchdog):
                t.cancel()
            await asyncio.gather(pipeline, watchdog, return_exceptions=True)
        if player.stale:
            return
        if failure is not None:
            self.log.warning("turn %d failed (%s): apologising", reply.turn, failure)
            await self._apologise(reply)
            return
        for call in tool_calls:
            self._llm_log.info("tool call %s(%s)", call.name, call.arguments or "")
        names = [c.name for c in tool_calls]
        if "transfer_to_agent" in names and self.settings.transfer_number:
            await self._final_action(reply, "transfer", None if reply.spoke_text else self.options.transfer_line,
                                     self.settings.transfer_number)
            return
        if "transfer_to_agent" in names:
            self._llm_log.warning("transfer requested but no TRANSFER_NUMBER is configured")
            if not reply.spoke_text:
                await self._play_prompt(reply, player, self.options.no_transfer_line)
        if "end_call" in names:
            await self._final_action(reply, "disconnect", None if reply.spoke_text else self.options.goodbye_line, None)
            return
        await self.speaker.playback.wait_played()
        if not player.stale:
            self._finalize(reply, cut_at=None)
            self._set_state("listening")

    async def _pipeline(self, reply: Reply, messages: Sequence[ChatMessage], player: ChunkPlayer) -> list[ToolCall]:
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        audio: asyncio.Queue[tuple[Utterance, bytes | None] | None] = asyncio.Queue()
        tool_calls: list[ToolCall] = []
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._llm_stage(reply, messages, sentences, tool_calls))
            tg.create_task(self._tts_stage(reply, sentences, audio))
            await self._play_stage(reply, audio, player)
        return tool_calls

    async def _llm_stage(
        self, reply: Reply, messages: Sequence[ChatMessage], out: asyncio.Queue[str | None], tool_calls: list[ToolCall]
    ) -> None:
        splitter = SentenceSplitter()
        timer = reply.timer

        async def emit(sentence: str) -> None:
            timer.mark("first_sentence", self.clock.now())
            self._llm_log.info("Sentence | text=%r", sentence)
            reply.pending_text.append(sentence)
            await out.put(sentence)

        stream = self.providers.llm.stream(messages, self.tools)
        async with _closing(stream) as deltas:
            async for delta in deltas:
                timer.mark("llm_first_token", self.clock.now())
                if isinstance(delta, TextDelta):
                    for sentence in splitter.push(delta.text):
                        await emit(sentence)
                elif isinstance(delta, ToolCall):
                    tool_calls.append(delta)
        for sentence in splitter.flush():
            await emit(sentence)
        await out.put(None)

    async def _tts_stage(
        self, reply: Reply, sentences: asyncio.Queue[str | None],
        out: asyncio.Queue[tuple[Utterance, bytes | None] | None],
    ) -> None:
        while (text := await sentences.get()) is not None:
            utt = Utterance(text)
            async with _closing(self._synthesize(reply, text)) as pcm_stream:
                async for pcm in pcm_stream:
                    reply.timer.mark("tts_first_byte", self.clock.now())
                    await out.put((utt, pcm))
            await out.put((utt, None))
        await out.put(None)

    async def _play_stage(
        self, reply: Reply, audio: asyncio.Queue[tuple[Utterance, bytes | None] | None], player: ChunkPlayer
    ) -> None:
        current: Utterance | None = None
        while (item := await audio.get()) is not None:
            utt, pcm = item
            if utt is not current:
                current = utt
                reply.utterances.append(utt)
                if utt.text in reply.pending_text:
                    reply.pending_text.remove(utt.text)
            if not await self._feed(reply, player, utt, pcm):
                raise _Stale()

    async def _feed(self, reply: Reply, player: ChunkPlayer, utt: Utterance, pcm: bytes | None) -> bool:
        """Audio of `utt` to the player (None: the utterance is complete); False once stale."""
        return await (player.end(utt) if pcm is None else player.feed(pcm, utt))

    def _player(self, reply: Reply) -> ChunkPlayer:
        return ChunkPlayer(self.speaker, reply.epoch, lambda utt: self._on_utterance_started(reply, utt))

    async def _synthesize(self, reply: Reply, text: str) -> AsyncIterator[bytes]:
        """TTS for one sentence; on failure, the fallback voice for this and later sentences."""
        chain: list[TTSProvider] = []
        if not reply.tts_failed:
            chain.append(self.providers.tts)
        if self.providers.fallback_tts is not None:
            chain.append(self.providers.fallback_tts)
        if not chain:
            chain.append(self.providers.tts)
        last: BaseException | None = None
        for tts in chain:
            name = getattr(tts, "name", "tts")
            try:
                got = 0
                async with _closing(tts.synthesize(text, sample_rate=self.sample_rate)) as stream:
                    async for pcm in stream:
                        if pcm:
                            got += len(pcm)
                            yield pcm
                if got:
                    self.log.child(name).debug("synthesised %.0f ms for %r", duration_ms(got, self.sample_rate), text[:40])
                    return
                last = ProviderError(f"{name} produced no audio")
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:  # provider failure: try the next voice
                last = exc
            reply.tts_failed = True
            self.log.child(name).warning("speech synthesis failed (%s)%s", last,
                                         "; using the fallback voice" if tts is not chain[-1] else "")
        raise ProviderError(f"every voice failed: {last}")

    async def _watchdog(self, reply: Reply) -> None:
        """Returns (= fires) once the caller has heard nothing for stall_timeout_s mid-turn."""
        start = self.clock.now()
        limit = self.options.stall_timeout_s
        while True:
            idle_since = max(start, self.speaker.playback.busy_until)
            left = idle_since + limit - self.clock.now()
            if left <= 0:
                return
            await self.clock.sleep(left)

    def _on_utterance_started(self, reply: Reply, utt: Utterance) -> None:
        if reply.timer.first_audio is None:
            reply.timer.mark("first_audio", self.clock.now())
            if reply.kind == "greeting":
                self._klog.info("greeting first playAudio sent (%s)", self._ms_since(reply.timer.metadata))
        reply.spoke_text = True
        self._set_state("speaking")
        self._publish(BotSentence(call_id=self.call_id, text=utt.text, turn=reply.turn))

    async def _speak_lines(self, reply: Reply, lines: Sequence[str]) -> None:
        """Greeting, supervisor lines, resumes: pre-rendered when possible, else streamed TTS."""
        player = self._player(reply)
        try:
            self._set_state("speaking")
            for line in lines:
                if not await self._play_prompt(reply, player, line):
                    return
            await self.speaker.playback.wait_played()
        except CallGone:
            return
        except ProviderError as exc:
            self.log.error("could not speak %s: %s", reply.kind, exc)
        if not player.stale:
            self._finalize(reply, cut_at=None)
            self._set_state("listening")

    async def _play_prompt(self, reply: Reply, player: ChunkPlayer, text: str) -> bool:
        """One line: from the prompt cache when it was rendered ahead, else streamed through TTS."""
        utt = Utterance(text)
        reply.utterances.append(utt)
        pcm = self.prompts.get(text, self.sample_rate)
        if pcm is not None:
            reply.timer.mark("tts_first_byte", self.clock.now())
            return await self._feed(reply, player, utt, pcm) and await self._feed(reply, player, utt, None)
        async with _closing(self._synthesize(reply, text)) as pcm_stream:
            async for chunk in pcm_stream:
                reply.timer.mark("tts_first_byte", self.clock.now())
                if not await self._feed(reply, player, utt, chunk):
                    return False
        return await self._feed(reply, player, utt, None)

    async def _apologise(self, failed: Reply) -> None:
        self._finalize(failed, cut_at=None, failed=True)
        reply = Reply(kind="apology", turn=failed.turn, epoch=self.speaker.epoch, timer=failed.timer)
        self._reply = reply
        reply.task = failed.task
        await self._speak_lines(reply, [self.options.apology])

    # ---- transfer / hang-up --------------------------------------------------------------

    def _run_final(self, action: Literal["transfer", "disconnect"], line: str | None, dest: str | None) -> None:
        reply = Reply(kind="final", turn=self.turn, epoch=self.speaker.epoch, timer=TurnTimer(turn=self.turn),
                      interruptible=False)
        self._begin(reply, self._final_action(reply, action, line, dest))

    async def _final_action(
        self, reply: Reply, action: Literal["transfer", "disconnect"], line: str | None, dest: str | None
    ) -> None:
        """Say the line (not interruptible), wait until it has played, then act."""
        self._terminal = True
        reply.interruptible = False
        self._cancel_resume()
        if action == "transfer":
            self._set_state("transferring")
        try:
            if line:
                player = self._player(reply)
                try:
                    await self._play_prompt(reply, player, line)
                except ProviderError as exc:
                    self.log.error("could not speak %r: %s", line, exc)
            await self.speaker.playback.wait_played(margin_s=0.05)
            if not reply.finalized:
                self._finalize(reply, cut_at=None)
            if action == "transfer":
                assert dest is not None
                await self._send_control(protocol.transfer(dest))
                self._klog.info("transfer sent | destination=%s", dest)
                self._publish(Transferred(call_id=self.call_id, destination=dest))
            else:
                await self._send_control(protocol.DISCONNECT)
                self._klog.info("disconnect sent")
        except CallGone:
            return
        if self._close_connection is not None:
            await self.clock.sleep(self.options.close_grace_s)
            if not self.closed:
                self.log.info("the Stream Node kept the socket open after %s; closing it", action)
                await self._close_connection(f"{action} sent")

    # ---- bookkeeping ---------------------------------------------------------------------

    def _finalize(self, reply: Reply, *, cut_at: float | None, failed: bool = False) -> None:
        """Close a reply's books: history gets what the caller heard; metrics published."""
        if reply.finalized:
            return
        reply.finalized = True
        if cut_at is None:
            heard = " ".join(u.text for u in reply.utterances if u.chunks)
        else:
            heard = heard_text(reply.utterances, cut_at)
            for utt in reply.utterances:
                text, full = utt.heard(cut_at)
                if utt.chunks and not full:
                    self._publish(BotSentence(call_id=self.call_id, text=utt.text, turn=reply.turn, heard=text))
            self.log.info("reply cut; the caller heard %r", heard[:200])
        if reply.kind == "answer":
            if heard:
                if reply.user_text:
                    self.history.append(ChatMessage("user", reply.user_text))
                self.history.append(ChatMessage("assistant", heard))
            elif not failed:  # cut before a word was heard: the question is still open
                self._unanswered = f"{self._unanswered} {reply.user_text}".strip()
            # failed with nothing heard: the apology asks the caller to say it again
        elif heard:
            self.history.append(ChatMessage("assistant", heard))
        if reply.kind in ("greeting", "answer"):
            metrics = reply.timer.finish(self.call_id)
            self._publish(metrics)
            if self.stats is not None:
                self.stats.add_turn(metrics)
            self.log.info(describe(metrics))

    def _set_state(self, state: BotState) -> None:
        if self.state == state or (self.state == "ended"):
            return
        if self._terminal and state in ("listening", "thinking", "speaking") and self.state == "transferring":
            return
        self.state = state
        self._publish(StateChanged(call_id=self.call_id, state=state))

    def _publish(self, event: Any) -> None:
        self.bus.publish(event)
        if self.recorder is not None:
            self.recorder.event(event)

    def _bot_audio_tap(self, pcm: bytes, start: float) -> None:
        if self._klog.isEnabledFor(logging.DEBUG):
            self._klog.debug("Chunk %d sent | b64_size=%d chars | %.0f ms", self.speaker.chunks_sent,
                             4 * ((len(pcm) + 46) // 3), duration_ms(len(pcm), self.sample_rate))
        if self.recorder is not None:
            self.recorder.bot_audio(pcm, start)
        if self.bus.wants_audio(self.call_id):
            self._publish(AudioFrame(call_id=self.call_id, source="bot", sample_rate=self.sample_rate,
                                     pcm_b64=base64.b64encode(pcm).decode("ascii")))

    async def _send_text(self, text: str) -> None:
        if self.closed:
            raise CallGone("call closed")
        await self._ws_send(text)

    async def _send_control(self, text: str) -> None:
        await self._send_text(text)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{name}-{self.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, CallGone):
            self.log.error("internal error in %s: %r", task.get_name(), exc, exc_info=exc)

    def _ms_since(self, t: float | None) -> str:
        return "n/a" if t is None else f"{(self.clock.now() - t) * 1000:.1f} ms after metadata"

    @property
    def active_tasks(self) -> int:
        return sum(1 for t in self._tasks if not t.done())


@contextlib.asynccontextmanager
async def _closing(stream: Any) -> AsyncIterator[Any]:
    """Close an async generator from a provider when we stop early (cancel, barge-in)."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
