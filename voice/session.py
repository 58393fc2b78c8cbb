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
from voice.phase import Phase, PhaseMachine, bot_state
from voice.playback import ChunkPlayer, Speaker, Utterance, heard_text
from voice.prompts import PromptCache
from voice.providers.base import (
    END_CALL_TOOL,
    TRANSFER_TOOL,
    ChatMessage,
    ProviderError,
    TextDelta,
    ToolCall,
    ToolSpec,
    Transcript,
)
from voice.providers.fallback import FallbackTTS
from voice.recording import CallRecorder
from voice.sentences import SentenceSplitter
from voice.stt_lane import SttLane
from voice.utterance_end import UtteranceEnd
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
    voice: FallbackTTS | None = None  # its TTS with failover, made when it first speaks

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
        self.state: BotState = "listening"  # what the bus last showed (follows the phase)
        self._phase = PhaseMachine(self.log, self._phase_changed)
        self.stt = SttLane(
            providers.stt, sample_rate=sample_rate, call_id=call_id, clock=self.clock,
            on_transcript=self._on_transcript, log=self._stt_log,
            buffer_s=self.options.stt_buffer_s, backoff_max_s=self.options.stt_backoff_max_s,
        )
        self.utterance = UtteranceEnd(
            clock=self.clock, gap_s=self.options.utterance_gap_s, vad=self.vad, spawn=self._spawn,
            on_utterance=lambda text, stt_final, stopped: self._start_turn(
                text, stt_final=stt_final, caller_stopped=stopped
            ),
        )
        self.history: list[ChatMessage] = []
        self.turn = 0
        self.end_reason: str | None = None
        self.started_at = self.clock.now()
        self._reply: Reply | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unanswered = ""
        self._resume_task: asyncio.Task[None] | None = None
        self._last_onset: float | None = None
        self._last_stt_activity = -1e18
        self.audio_frames = 0
        self.tools: list[ToolSpec] = ([TRANSFER_TOOL] if settings.transfer_number else []) + [END_CALL_TOOL]

    # ---- lifecycle ------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._phase.phase

    @property
    def closed(self) -> bool:
        """The call is being torn down or is over: nothing more is fed or sent."""
        return self._phase.phase.closed

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
        self._spawn(self.stt.run(), "stt")

    async def close(self, reason: str) -> None:
        """End the call: cancel every task, close STT, publish CallEnded. Idempotent."""
        if self.closed:
            return
        self._phase.to(Phase.CLOSING)
        self.stt.stop()
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
        await self.stt.close()
        self._phase.to(Phase.ENDED)
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
        self.stt.feed(pcm)
        for ev in self.vad.push(pcm, now):
            if isinstance(ev, SpeechStart):
                self._last_onset = ev.onset
                self.utterance.speech_started()
                self._vlog.debug("speech onset (confirmed after %.0f ms)", (ev.confirmed - ev.onset) * 1000)
                await self._barge_in(ev.onset, "speech")
            elif isinstance(ev, SpeechEnd):
                self.utterance.speech_ended(ev.end)

    # ---- supervisor commands -------------------------------------------------------------

    async def transfer(self, destination: str | None = None) -> str | None:
        """Speak the transfer line, then transfer. Returns an error message or None."""
        dest = destination or self.settings.transfer_number
        if not dest:
            return "no destination given and no TRANSFER_NUMBER configured"
        clean = re.sub(r"[\s().-]", "", dest)
        if not _PHONE.match(clean):
            return f"not a phone number: {dest[:30]!r}"
        if self.phase.ending:
            return "the call is already ending"
        await self._interrupt_for_command()
        self._run_final("transfer", self.options.transfer_line, clean)
        return None

    async def hangup(self, *, goodbye: bool = True) -> str | None:
        if self.phase.ending:
            return "the call is already ending"
        await self._interrupt_for_command()
        self._run_final("disconnect", self.options.goodbye_line if goodbye else None, None)
        return None

    async def say(self, text: str) -> str | None:
        text = text.strip()
        if not text:
            return "nothing to say"
        if self.phase.ending:
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
        if reply is None or reply.finalized or not reply.interruptible or self.phase.ending:
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
        self._phase.to(Phase.LISTENING)

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
                if self._reply is not cut or self.utterance.pending or self.closed:
                    return
                now = self.clock.now()
                quiet_from = max(
                    cut.cut_at or 0.0, self._last_stt_activity,
                    self.utterance.last_speech_end if self.utterance.last_speech_end is not None else -1e18,
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

    async def _on_transcript(self, tr: Transcript) -> None:
        """Every STT result: interims may confirm a barge-in; finals build the utterance."""
        if self.phase.ending:
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
        await self.utterance.final(text, at=now, speech_final=tr.speech_final)

    # ---- turns -----------------------------------------------------------------------------

    async def _start_turn(self, text: str, *, stt_final: float | None, caller_stopped: float | None) -> None:
        self._cancel_resume()
        reply = self._reply
        if self.phase.ending:
            return
        if reply is not None and not reply.finalized:
            if not reply.interruptible:
                return
            # A transcript while the bot is still talking or thinking: the caller went on.
            await self._cut(reply, onset=self._last_onset, publish_barge_in=reply.audio_sent, source="transcript")
            if self.phase.ending:
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
        self._phase.to(Phase.THINKING)
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
            self._phase.to(Phase.LISTENING)

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
            async with _closing(self._voice(reply).synthesize(text, sample_rate=self.sample_rate)) as pcm_stream:
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

    def _voice(self, reply: Reply) -> FallbackTTS:
        """The reply's TTS: the main voice, and once it fails the fallback voice for the
        rest of the reply (sticky: one voice per reply, one failure per dead vendor)."""
        if reply.voice is None:
            reply.voice = FallbackTTS(self.providers.tts, self.providers.fallback_tts, sticky=True,
                                      logger_for=self.log.child)
        return reply.voice

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
        if not self.phase.ending:  # the last line of a transfer or hang-up keeps that phase
            self._phase.to(Phase.SPEAKING)
        self._publish(BotSentence(call_id=self.call_id, text=utt.text, turn=reply.turn))

    async def _speak_lines(self, reply: Reply, lines: Sequence[str]) -> None:
        """Greeting, supervisor lines, resumes: pre-rendered when possible, else streamed TTS."""
        player = self._player(reply)
        try:
            self._phase.to(Phase.SPEAKING)
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
            self._phase.to(Phase.LISTENING)

    async def _play_prompt(self, reply: Reply, player: ChunkPlayer, text: str) -> bool:
        """One line: from the prompt cache when it was rendered ahead, else streamed through TTS."""
        utt = Utterance(text)
        reply.utterances.append(utt)
        pcm = self.prompts.get(text, self.sample_rate)
        if pcm is not None:
            reply.timer.mark("tts_first_byte", self.clock.now())
            return await self._feed(reply, player, utt, pcm) and await self._feed(reply, player, utt, None)
        async with _closing(self._voice(reply).synthesize(text, sample_rate=self.sample_rate)) as pcm_stream:
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
        self._phase.to(Phase.TRANSFERRING if action == "transfer" else Phase.HANGING_UP)  # at once: no turn slips in
        reply = Reply(kind="final", turn=self.turn, epoch=self.speaker.epoch, timer=TurnTimer(turn=self.turn),
                      interruptible=False)
        self._begin(reply, self._final_action(reply, action, line, dest))

    async def _final_action(
        self, reply: Reply, action: Literal["transfer", "disconnect"], line: str | None, dest: str | None
    ) -> None:
        """Say the line (not interruptible), wait until it has played, then act."""
        self._phase.to(Phase.TRANSFERRING if action == "transfer" else Phase.HANGING_UP)
        reply.interruptible = False
        self._cancel_resume()
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

    def _phase_changed(self, old: Phase, new: Phase) -> None:
        state = bot_state(new)
        if state is not None and state != self.state:
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
