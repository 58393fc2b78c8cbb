"""CallSession: one phone call, from the metadata frame to the hang-up.

The server owns the socket; the session owns the conversation. It is driven by three
inputs — `feed_audio` (caller PCM), transcripts from its STT lane, and supervisor
commands (`transfer`, `hangup`, `say`) — and writes only through `Speaker` (playAudio,
paced and epoch-checked) and `_send_text` (killAudio, transfer, disconnect). It is in
one `Phase` at a time (voice.phase) and lends out what has a job of its own: the STT
lane (voice.stt_lane), end-of-utterance detection (voice.utterance_end), the answer
pipeline (voice.answer), the history as the caller heard it (voice.history), replies
and their epochs (voice.reply), the bus and the recorder (voice.call_tap).

Lanes. Audio is produced by the reply task; control decisions are taken synchronously
on the input path: a confirmed speech onset sends killAudio from inside `feed_audio`,
before the reply task is even told to stop. Nothing of the control lane ever waits in
a queue behind audio.

Watchdog. A turn that raises (LLM, TTS) or stalls ends in a short apology, never
silence; a TTS failure first switches the reply to the fallback (offline) voice. A
barge-in that turns out to be no turn at all (no transcript follows within
`resume_after_s` of quiet) resumes the cut reply from the sentence that was cut.

Supervisor commands. `say` interrupts whatever the bot is saying (a reply continuing
after a supervisor's line would be stale) and speaks the line; `transfer` and `hangup`
interrupt and hand over to voice.handoff. `listen` is per monitor, in the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from voice import protocol
from voice.answer import AnswerPipeline
from voice.barge_in import Interruptions
from voice.bus import BotSentence, BotState, CallEnded, CallStarted, EventBus, StateChanged, TranscriptEvent
from voice.call_tap import CallTap
from voice.call_tasks import CallTasks
from voice.clock import Clock, MonotonicClock
from voice.config import BotSettings
from voice.handoff import Handoff
from voice.history import CallHistory
from voice.logs import CallLog
from voice.metrics import TurnTimer
from voice.outcome import Ending
from voice.phase import Phase, PhaseMachine, bot_state
from voice.playback import Speaker, Utterance
from voice.prompts import PromptCache
from voice.providers.base import END_CALL_TOOL, TRANSFER_TOOL, ChatMessage, ProviderError, ToolSpec, Transcript
from voice.recording import CallRecorder
from voice.reply import CallGone, Reply, Voices
from voice.session_options import SessionOptions
from voice.speculation import SpeculativeStart
from voice.stt_lane import SttLane
from voice.uplink import Uplink, UplinkOptions
from voice.utterance_end import UtteranceEnd
from voice.vad import SpeechEnd, SpeechStart

if TYPE_CHECKING:
    from voice.metrics import ServerStats
    from voice.providers.factory import ProviderSet

SendText = Callable[[str], Awaitable[None]]
CloseConnection = Callable[[str], Awaitable[None]]


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
        self.tap = CallTap(call_id, sample_rate, bus, recorder, CallLog(call_id, "KNOWLARITY"))
        self.stats = stats
        self._ws_send = send
        self._close_connection = close_connection
        self.log = CallLog(call_id, "BOT")
        self._tasks = CallTasks(call_id, self.log, ignore=(CallGone,))
        self._klog = self.log.child("KNOWLARITY")
        self._vlog = self.log.child("VAD")
        self._stt_log = self.log.child(getattr(providers.stt, "name", "stt"))
        self._llm_log = self.log.child(getattr(providers.llm, "name", "llm"))
        self.speaker = Speaker(
            self._send_text, sample_rate, self.clock,
            first_chunk_ms=settings.first_chunk_ms, chunk_ms=settings.audio_chunk_ms,
            lead_ms=self.options.lead_ms, tap=lambda pcm, start: self.tap.bot_audio(pcm, start, self.speaker.chunks_sent),
            on_kill=lambda at: self.uplink.cut(at),  # nothing queued after `at` reaches the caller, nor its echo
        )
        # the caller's audio: echo of the bot's playback removed, then the VAD (voice.uplink)
        self.uplink = Uplink(sample_rate, self.clock.now(), UplinkOptions(
            echo_cancel=self.options.echo_cancel, echo_guard=self.options.echo_guard,
            lead_s=self.options.lead_ms / 1000, vad=self.options.vad))
        self.vad = self.uplink.vad
        self.tap.reference = self.uplink.play  # every chunk sent is the echo canceller's reference too
        self.state: BotState = "listening"  # what the bus last showed (follows the phase)
        self._phase = PhaseMachine(self.log, self._phase_changed)
        self.stt = SttLane(
            providers.stt, sample_rate=sample_rate, call_id=call_id, clock=self.clock,
            on_transcript=self._on_transcript, log=self._stt_log,
            buffer_s=self.options.stt_buffer_s, backoff_max_s=self.options.stt_backoff_max_s,
        )
        self.utterance = UtteranceEnd(
            clock=self.clock, gap_s=self.options.utterance_gap_s, vad=self.vad, spawn=self._tasks.spawn,
            on_utterance=lambda text, stt_final, stopped: self._start_turn(
                text, stt_final=stt_final, caller_stopped=stopped
            ),
        )
        self.speculation = SpeculativeStart(enabled=settings.speculative_start, log=self.log)
        self.memory = CallHistory()
        self.history = self.memory.messages  # what the LLM is told (read by tests and tools)
        self.turn = 0
        self.ending: Ending | None = None  # who ended the call (its `.text` is the reason), once it is over
        self.started_at = self.clock.now()
        self._reply: Reply | None = None
        self._last_onset: float | None = None
        self.audio_frames = 0
        self.tools: list[ToolSpec] = ([TRANSFER_TOOL] if settings.transfer_number else []) + [END_CALL_TOOL]
        self.voices = Voices(
            self.speaker, tts=providers.tts, fallback_tts=providers.fallback_tts, prompts=prompts, clock=self.clock,
            logger_for=self.log.child, on_start=self._on_utterance_started,
        )
        self.interruptions = Interruptions(
            call_id=call_id, clock=self.clock, speaker=self.speaker, tap=self.tap, stats=stats,
            utterance=self.utterance, resume_after_s=self.options.resume_after_s, log=self._vlog,
            control_log=self._klog, spawn=self._tasks.spawn, on_cut=self._cut_done, on_quiet=self._resume,
            current=lambda: self._reply, closed=lambda: self.closed,
        )
        self.handoff = Handoff(
            call_id=call_id, clock=self.clock, speaker=self.speaker, voices=self.voices, tap=self.tap,
            send_text=self._send_text, close_connection=close_connection, close_grace_s=self.options.close_grace_s,
            closed=lambda: self.closed, log=self.log, control_log=self._klog,
        )
        self._pipeline = AnswerPipeline(
            llm=providers.llm, tools=self.tools, clock=self.clock, playback=self.speaker.playback,
            sample_rate=sample_rate, stall_timeout_s=self.options.stall_timeout_s, log=self._llm_log,
        )

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
        self.tap.publish(CallStarted(
            call_id=self.call_id, caller=self.metadata.customer_number, virtual_number=self.metadata.virtual_number,
            call_type=self.metadata.call_type, sample_rate=self.sample_rate,
        ))
        timer = TurnTimer(turn=0, metadata=self.started_at)
        reply = Reply(kind="greeting", turn=0, epoch=self.speaker.epoch, timer=timer)
        self._begin(reply, self._speak_lines(reply, [self.settings.greeting]))
        self._tasks.spawn(self.stt.run(), "stt")

    async def close(self, reason: str | Ending) -> None:
        """End the call: cancel tasks, close STT, publish CallEnded (a sent handoff decides who ended it). Idempotent."""
        if self.closed:
            return
        self._phase.to(Phase.CLOSING)
        self.stt.stop()
        self.ending = end = self.handoff.sent or (reason if isinstance(reason, Ending) else Ending("unknown", reason))
        now = self.clock.now()
        reply = self._reply
        if reply is not None and not reply.finalized:
            self._finalize(reply, cut_at=now if self.speaker.playback.playing() else None)
        await self._tasks.cancel_all(timeout=5.0)
        await self.stt.close()
        self._phase.to(Phase.ENDED)
        duration = self.clock.now() - self.started_at
        self.tap.publish(CallEnded(call_id=self.call_id, reason=end.text, duration_s=round(duration, 3),
                                   outcome=end.outcome, detail=end.detail))
        self.tap.close(self.clock.now())
        self.log.info("call ended: %s (%.1f s, %d turns)", end.text, duration, self.turn)

    # ---- caller audio (the input path; control decisions happen here) --------------------

    async def feed_audio(self, pcm: bytes) -> None:
        """One binary frame from the Stream Node (already validated: even length)."""
        if self.closed:
            return
        now = self.clock.now()
        self.audio_frames += 1
        self.tap.caller_audio(pcm, now)
        up = self.uplink.push(pcm, now)
        if up.rate_mismatch is not None:
            self._klog.warning("%s", up.rate_mismatch.message())
        if up.echo_delay_ms is not None:
            self._vlog.info("echo of the bot's audio on the line: %.0f ms late; cancelling it", up.echo_delay_ms)
        if up.clean:
            self.stt.feed(up.clean)  # the recogniser hears the caller, not the bot's echo
        for ev in up.events:
            if isinstance(ev, SpeechStart):
                self._last_onset = ev.onset
                self.utterance.speech_started()
                self.speculation.cancel("the caller went on")
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
        clean = protocol.transfer_destination(dest)
        if clean is None:
            return f"not a phone number: {dest[:30]!r}"
        if error := await self._take_over():
            return error
        self._run_final(self.options.transfer_line, Ending("transferred", clean))
        return None

    async def hangup(self, *, goodbye: bool = True) -> str | None:
        """Speak the goodbye line (unless not `goodbye`), then disconnect."""
        if error := await self._take_over():
            return error
        self._run_final(self.options.goodbye_line if goodbye else None, Ending("supervisor_hangup"))
        return None

    async def say(self, text: str) -> str | None:
        text = text.strip()
        if not text:
            return "nothing to say"
        if error := await self._take_over():
            return error
        reply = Reply(kind="say", turn=self.turn, epoch=self.speaker.epoch, timer=TurnTimer(turn=self.turn))
        self._begin(reply, self._speak_lines(reply, [text]))
        return None

    async def _take_over(self) -> str | None:
        """A supervisor's command interrupts whatever the bot is doing; an error if it cannot."""
        if self.phase.ending:
            return "the call is already ending"
        self.interruptions.cancel_resume()
        self.speculation.cancel("a supervisor command")
        reply = self._reply
        if reply is not None and not reply.finalized:
            await self.interruptions.cut(reply, onset=None, barge_in=False)
        return None

    # ---- barge-in ------------------------------------------------------------------------

    async def _barge_in(self, onset: float, source: str) -> None:
        """The caller speaks over the bot: kill audio first, then tidy up."""
        reply = self._reply
        if reply is None or reply.finalized or not reply.interruptible or self.phase.ending:
            return
        await self.interruptions.cut(reply, onset=onset, barge_in=True, source=source, state=self.state)
        self.interruptions.watch(reply)

    def _cut_done(self, reply: Reply, cut_at: float) -> None:
        self._finalize(reply, cut_at=cut_at)
        self._phase.to(Phase.LISTENING)

    async def _resume(self, cut: Reply) -> None:
        """A barge-in with no words after it: answer the question again, or resume the reply."""
        at = cut.cut_at if cut.cut_at is not None else self.clock.now()
        if cut.kind == "answer" and not cut.audio_sent:
            self.log.info("no new words after the interruption: answering %r again", cut.user_text[:60])
            text, self.memory.unanswered = self.memory.unanswered or cut.user_text, ""
            if text:
                await self._start_turn(text, stt_final=None, caller_stopped=None)
            return
        rest = cut.unheard(at)
        if not rest:
            return
        self.log.info("no new words after the interruption: resuming (%d sentences)", len(rest))
        reply = Reply(kind="resume", turn=cut.turn, epoch=self.speaker.epoch, timer=TurnTimer(turn=cut.turn))
        self._begin(reply, self._speak_lines(reply, rest))

    # ---- STT -------------------------------------------------------------------------------

    async def _on_transcript(self, tr: Transcript) -> None:
        """Every STT result: interims may confirm a barge-in; finals build the utterance."""
        if self.phase.ending:
            return
        text = tr.text.strip()
        now = self.clock.now()
        if text and self.uplink.is_echo(text, now):
            self._stt_log.info("Transcript (%s) ignored: the bot's own words | text=%r", "final" if tr.final else "interim", text)
            if not tr.final:
                return
            text = ""  # a final of the bot's own words: the utterance gets no words from it
        if not tr.final:
            if not text:
                return
            self.utterance.words(now)
            self.tap.publish(TranscriptEvent(call_id=self.call_id, text=text, final=False))
            self._stt_log.debug("Transcript (interim) | text=%r", text)
            if self.options.interim_barge_in and self.vad.recent_voice():
                onset = self._last_onset if self.vad.in_speech and self._last_onset is not None else now
                await self._barge_in(onset, "interim transcript")
            if tr.eager and self.speculation.wants(text) and (self._reply is None or self._reply.finalized):
                self._speculate(text)
            return
        if text:
            self.utterance.words(now)
            self.tap.publish(TranscriptEvent(call_id=self.call_id, text=text, final=True))
            self._stt_log.info("Transcript (final) | text=%r", text)
        self.utterance.recogniser_ends_turns = bool(getattr(self.stt.stream, "turn_detection", False))
        await self.utterance.final(text, at=now, speech_final=tr.speech_final)

    # ---- turns -----------------------------------------------------------------------------

    def _speculate(self, text: str) -> None:
        """Start the answer to a probably-final transcript, held before its first audio."""
        user_text, turn = f"{self.memory.unanswered} {text}".strip(), self.turn + 1
        reply = Reply(kind="answer", turn=turn, epoch=self.speaker.epoch, timer=TurnTimer(turn=turn), user_text=user_text)
        reply.task = self._tasks.spawn(self._answer(reply, self.memory.prompt(self.settings.system_prompt, user_text)),
                                       f"speculative-{turn}")
        self.speculation.begin(text, reply)

    async def _start_turn(self, text: str, *, stt_final: float | None, caller_stopped: float | None) -> None:
        self.interruptions.cancel_resume()
        reply = self._reply
        if self.phase.ending:
            return
        held = self.speculation.adopt(text, epoch=self.speaker.epoch, current=reply)
        if held is not None:
            self.memory.take_question(text)  # the held answer already carries it
            self.turn += 1
            held.timer.caller_stopped, held.timer.stt_final = caller_stopped, stt_final or self.clock.now()
            self.log.info("turn %d: caller said %r (answer prepared speculatively)", self.turn, held.user_text[:200])
            self._reply = held
            self._phase.to(Phase.THINKING)
            assert held.hold is not None
            held.hold.set()
            return
        if reply is not None and not reply.finalized:
            if not reply.interruptible:
                return
            # A transcript while the bot is still talking or thinking: the caller went on.
            await self.interruptions.cut(reply, onset=self._last_onset, barge_in=reply.audio_sent, source="transcript",
                                         state=self.state)
            if self.phase.ending:
                return
        user_text = self.memory.take_question(text)
        self.turn += 1
        timer = TurnTimer(turn=self.turn, caller_stopped=caller_stopped, stt_final=stt_final or self.clock.now())
        answer = Reply(kind="answer", turn=self.turn, epoch=self.speaker.new_epoch(), timer=timer, user_text=user_text)
        self.log.info("turn %d: caller said %r", self.turn, user_text[:200])
        messages = self.memory.prompt(self.settings.system_prompt, user_text)
        self._begin(answer, self._answer(answer, messages))

    def _begin(self, reply: Reply, coro: Any) -> None:
        self._reply = reply
        reply.task = self._tasks.spawn(coro, f"reply-{reply.kind}-{reply.turn}")

    async def _answer(self, reply: Reply, messages: Sequence[ChatMessage]) -> None:
        """LLM -> sentences -> TTS -> chunks, under a watchdog; then the tool calls."""
        if reply.hold is None:
            self._phase.to(Phase.THINKING)
        player = self.voices.player(reply)
        outcome = await self._pipeline.run(reply, messages, player, self.voices.voice(reply))
        if reply.hold is not None:
            await reply.hold.wait()  # a speculative answer acts only once its turn is confirmed
        if outcome.aborted or player.stale:
            return
        failure, tool_calls = outcome.failure, outcome.tool_calls
        if failure is not None:
            self.log.warning("turn %d failed (%s): apologising", reply.turn, failure)
            await self._apologise(reply)
            return
        for call in tool_calls:
            self._llm_log.info("tool call %s(%s)", call.name, call.arguments or "")
        names = [c.name for c in tool_calls]
        if "transfer_to_agent" in names and self.settings.transfer_number:
            await self._final_action(reply, None if reply.spoke_text else self.options.transfer_line,
                                     Ending("transferred", self.settings.transfer_number))
            return
        if "transfer_to_agent" in names:
            self._llm_log.warning("transfer requested but no TRANSFER_NUMBER is configured")
            if not reply.spoke_text:
                await self.voices.line(reply, player, self.options.no_transfer_line)
        if "end_call" in names:
            await self._final_action(reply, None if reply.spoke_text else self.options.goodbye_line, Ending("bot_ended"))
            return
        await self.speaker.playback.wait_played()
        if not player.stale:
            self._finalize(reply, cut_at=None)
            self._phase.to(Phase.LISTENING)

    def _on_utterance_started(self, reply: Reply, utt: Utterance) -> None:
        self.uplink.speaking(utt)
        if reply.timer.first_audio is None:
            reply.timer.mark("first_audio", self.clock.now())
            if reply.kind == "greeting":
                self._klog.info("greeting first playAudio sent (%.1f ms after metadata)",
                                (self.clock.now() - (reply.timer.metadata or self.started_at)) * 1000)
        reply.spoke_text = True
        if not self.phase.ending:  # the last line of a transfer or hang-up keeps that phase
            self._phase.to(Phase.SPEAKING)
        self.tap.publish(BotSentence(call_id=self.call_id, text=utt.text, turn=reply.turn))

    async def _speak_lines(self, reply: Reply, lines: Sequence[str]) -> None:
        """Greeting, supervisor lines, resumes: pre-rendered when possible, else streamed TTS."""
        player = self.voices.player(reply)
        try:
            self._phase.to(Phase.SPEAKING)
            for line in lines:
                if not await self.voices.line(reply, player, line):
                    return
            await self.speaker.playback.wait_played()
        except CallGone:
            return
        except ProviderError as exc:
            self.log.error("could not speak %s: %s", reply.kind, exc)
        if not player.stale:
            self._finalize(reply, cut_at=None)
            self._phase.to(Phase.LISTENING)

    async def _apologise(self, failed: Reply) -> None:
        self._finalize(failed, cut_at=None, failed=True)
        reply = Reply(kind="apology", turn=failed.turn, epoch=self.speaker.epoch, timer=failed.timer)
        self._reply = reply
        reply.task = failed.task
        await self._speak_lines(reply, [self.options.apology])

    # ---- transfer / hang-up --------------------------------------------------------------

    def _run_final(self, line: str | None, ending: Ending) -> None:
        self._phase.to(Phase.TRANSFERRING if ending.outcome == "transferred" else Phase.HANGING_UP)  # no turn slips in
        reply = Reply(kind="final", turn=self.turn, epoch=self.speaker.epoch, timer=TurnTimer(turn=self.turn),
                      interruptible=False)
        self._begin(reply, self._final_action(reply, line, ending))

    async def _final_action(self, reply: Reply, line: str | None, ending: Ending) -> None:
        """Say the line (not interruptible), wait until it has played, then transfer or disconnect (per `ending`)."""
        self._phase.to(Phase.TRANSFERRING if ending.outcome == "transferred" else Phase.HANGING_UP)
        reply.interruptible = False
        self.interruptions.cancel_resume()
        await self.handoff.run(reply, line, ending, heard=lambda r: self._finalize(r, cut_at=None))

    # ---- bookkeeping ---------------------------------------------------------------------

    def _finalize(self, reply: Reply, *, cut_at: float | None, failed: bool = False) -> None:
        """Close a reply's books: history gets what the caller heard; metrics published."""
        if reply.finalized:
            return
        reply.finalized = True
        heard = reply.heard(cut_at)
        if cut_at is not None:
            for utt, text in reply.cut_short(cut_at):
                self.tap.publish(BotSentence(call_id=self.call_id, text=utt.text, turn=reply.turn, heard=text))
            self.log.info("reply cut; the caller heard %r", heard[:200])
        if reply.kind == "answer":
            self.memory.answered(reply.user_text, heard, failed=failed)
        else:
            self.memory.said(heard)
        if reply.kind in ("greeting", "answer"):
            self.tap.turn_done(reply.timer.finish(self.call_id), self.stats, self.log)

    def _phase_changed(self, old: Phase, new: Phase) -> None:
        state = bot_state(new)
        if state is not None and state != self.state:
            self.state = state
            self.tap.publish(StateChanged(call_id=self.call_id, state=state))

    async def _send_text(self, text: str) -> None:
        if self.closed:
            raise CallGone("call closed")
        await self._ws_send(text)

    @property
    def active_tasks(self) -> int:
        return self._tasks.active
