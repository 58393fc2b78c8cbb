"""The call itself: one `Caller` dials a bot the way Knowlarity's Stream Node does.

It opens a WebSocket to the bot, sends the metadata frame as the real Stream Node
sends it (a JSON string wrapping a Python-style dict, through
`voice.protocol.encode_metadata`), then streams the caller's audio as 20 ms binary
frames in real time, silence included, for as long as the call lasts, just as a
telephone line does. At the same time it plays what the bot sends (`Playback`);
transfer and disconnect end the call with that outcome. Knowlarity's rule is
enforced: a bot that sends no playAudio within `no_audio_timeout` seconds of the
connection is cut. `kconsole call --mic` streams the microphone instead of a script.

Malformed bot frames (not JSON, unknown type, bad base64, a WAV that is not mono
16-bit) are reported as `protocol_error` events and counted, and the call goes on,
as a tolerant telephone network would; with `strict=True` the first one ends the
call with outcome "protocol error". A playAudio at another rate than the stream's
is a protocol error too (the guide: it "must match"), reported once per call; its
audio is resampled so the call can go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from kcommon.redact import register_secret
from voice.audio import resample
from voice.bus import BotSentence, TranscriptEvent, parse_monitor_event
from voice.caller import speech
from voice.caller.connection import DialError, close_text, dial
from voice.caller.errors import CallerError
from voice.caller.line import CallerLine
from voice.caller.options import FRAME_MS, CallerOptions
from voice.caller.playback import Notifier, Playback, Voice, direct, send_frames, stream_mic
from voice.caller.report import BotReply, CallerEvent, CallReport, EventKind, Outcome, TranscriptLine, TurnReport
from voice.caller.script import Conversation, Turn
from voice.caller.speech import render_speech
from voice.caller.urls import build_url, redact_url
from voice.protocol import (
    KCONSOLE_EVENT_PREFIX,
    KCONSOLE_TRANSCRIPT_REQUEST,
    CallMetadata,
    Disconnect,
    KillAudio,
    PlayAudio,
    ProtocolError,
    Transfer,
    encode_metadata,
    parse_bot_event,
)

log = logging.getLogger("voice.caller")


class Caller:
    """One emulated Stream Node call to a bot. Create, then `await run(...)` once.

    `options` says how the call is placed (see `CallerOptions`); keyword `changes`
    adjust it (`Caller(url, speed=4)` is `Caller(url, CallerOptions(speed=4))`).
    """

    def __init__(self, url: str, options: CallerOptions | None = None, /, **changes: Any) -> None:
        opts = options or CallerOptions()
        if changes:
            opts = opts.replace(**changes)
        self.url = build_url(url, sample_rate=opts.sample_rate if opts.rate_in_url else None)
        self.metadata = opts.metadata or CallMetadata(
            callid=str(uuid.uuid4()), virtual_number="+918069000000", customer_number="+919800000001"
        )
        self.options = opts
        self.sample_rate = opts.sample_rate
        self.frame_bytes = opts.frame_bytes
        if opts.token:
            register_secret(opts.token)
        self.report = CallReport(
            url=redact_url(self.url, [opts.token or ""]), call_id=self.metadata.callid, sample_rate=opts.sample_rate,
            speed=opts.speed,
        )
        self.notifier = Notifier()
        self._tts = opts.tts
        self._t0 = 0.0
        self._metadata_ms: float | None = None
        self._ws: ClientConnection | None = None
        self._voice = Voice(self.frame_bytes)
        self._playback: Playback | None = None
        self._ended: asyncio.Future[None] | None = None
        self._bot_audio = bytearray()
        self._turn: TurnReport | None = None
        self._barge: TurnReport | None = None
        self._rate_warned = False
        self._line = CallerLine(opts.line, opts.sample_rate, FRAME_MS / 1000) if opts.line is not None else None
        self._line_send = self._line.send if self._line is not None else direct  # with --line, what it lets through
        self._transcriptions: list[asyncio.Task[None]] = []
        self._used = False
        self._finished = False

    # -- public ----------------------------------------------------------------------------

    async def run(
        self, conversation: Conversation | Sequence[Turn] | None = None, *, mic: AsyncIterator[bytes] | None = None
    ) -> CallReport:
        """Place the call and play `conversation` (or stream `mic`); returns the report.

        With neither, the caller listens to the greeting and hangs up. Never raises for
        anything the bot or the network does: that is the report's outcome.
        """
        if self._used:
            raise RuntimeError("a Caller places one call; create another for the next")
        self._used = True
        turns: tuple[Turn, ...] = ()
        if isinstance(conversation, Conversation):
            turns = conversation.turns
        elif conversation is not None:
            turns = tuple(conversation)
        if mic is not None and turns:
            raise CallerError("a call speaks either scripted turns or the microphone, not both")
        self._t0 = time.monotonic()
        try:
            rendered = await self._prepare(turns)
        except CallerError as exc:
            self._finish("error", str(exc))
            self._emit("ended", self.report.describe_outcome())
            return self.report
        await self._call(turns, rendered, mic)
        return self.report

    def now_ms(self) -> float:
        return (time.monotonic() - self._t0) * 1000

    # -- preparation -----------------------------------------------------------------------

    async def _prepare(self, turns: Sequence[Turn]) -> list[bytes]:
        """Render every line before dialling: a person has the words ready; synthesis
        time must not count against the bot."""
        rendered: list[bytes] = []
        for turn in turns:
            if turn.audio is not None:
                rendered.append(resample(turn.audio, turn.audio_rate, self.sample_rate))
                continue
            assert turn.say is not None
            if self._tts is None:
                try:
                    self._tts = speech.default_tts()
                except Exception as exc:  # noqa: BLE001 - any failure to load the TTS is one clear line
                    raise CallerError(f"the offline TTS is unavailable: {exc}") from None
            try:
                pcm = await render_speech(self._tts, turn.say, self.sample_rate)
            except Exception as exc:  # noqa: BLE001 - any TTS failure is one clear line
                raise CallerError(f"could not synthesise {turn.say!r}: {exc}") from None
            if not pcm:
                raise CallerError(f"the TTS produced no audio for {turn.say!r}")
            rendered.append(pcm)
        return rendered

    # -- the call --------------------------------------------------------------------------

    async def _call(self, turns: Sequence[Turn], rendered: list[bytes], mic: AsyncIterator[bytes] | None) -> None:
        loop = asyncio.get_running_loop()
        self._ended = loop.create_future()
        self._t0 = time.monotonic()
        tasks: list[asyncio.Task[Any]] = []
        try:
            if self._finished:  # hung up before dialling
                return
            try:
                self._ws = await dial(self.url, self.options)
            except DialError as exc:  # the library's text may quote the URL whole, token and all
                self._finish("error", f"cannot connect to {self.report.url}: {str(exc).replace(self.url, self.report.url)}")
                return
            self._t0 = time.monotonic()
            self._emit("connected", f"connected to {self.report.url}")
            self._playback = Playback(
                self.options, self.notifier,
                on_reply_opened=self.report.replies.append, on_reply_closed=self.on_reply_closed,
            )
            try:
                await self._ws.send(encode_metadata(self.metadata, python_style=self.options.python_style_metadata))
            except ConnectionClosed as exc:
                self._finish("error", f"the bot closed the connection {close_text(exc)} before the metadata")
                return
            self._metadata_ms = self.now_ms()
            if self.options.bot_text:
                with contextlib.suppress(ConnectionClosed):
                    await self._ws.send(KCONSOLE_TRANSCRIPT_REQUEST)
            if self._finished:  # hung up while connecting
                return
            tasks = [
                asyncio.create_task(self._receive(), name="caller-receive"),
                asyncio.create_task(self._playback.run(), name="caller-playback"),
                asyncio.create_task(self._watchdog(), name="caller-no-audio"),
                asyncio.create_task(
                    self._stream_mic(mic) if mic is not None else self._send_frames(), name="caller-send"
                ),
            ]
            if mic is None:
                tasks.append(asyncio.create_task(self._script(turns, rendered), name="caller-script"))
            for task in tasks:
                task.add_done_callback(self._task_done)
            await self._ended
        except asyncio.CancelledError:
            self._finish("completed", None)  # the caller hung up (the task running the call was cancelled)
            raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._playback is not None and self._playback.reply is not None:
                self._playback.close_reply()
            if self._ws is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await self._ws.close()
            await self._finalise()

    def hangup(self) -> None:
        """The caller hangs up now (Ctrl-C in `kconsole call`); the outcome is "completed"."""
        self._finish("completed", None)

    def vanish(self) -> bool:
        """Drop the connection with no close frame, as a caller whose line dies does (for
        fault tests); False before the connection is open."""
        if self._ws is None:
            return False
        self._ws.transport.abort()
        return True

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("caller task %s failed", task.get_name(), exc_info=exc)
            self._finish("error", f"internal error in {task.get_name()}: {type(exc).__name__}: {exc}")

    def _finish(
        self, outcome: Outcome, error: str | None, *, transfer_to: str | None = None, quiet: bool = False
    ) -> None:
        """Record the outcome and end the call; the first outcome wins."""
        if self._finished:
            return
        self._finished = True
        self.report.outcome = outcome
        self.report.error = error
        self.report.transfer_to = transfer_to
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)
        if quiet:
            return
        if outcome == "no-audio timeout":
            self._emit("cut", f"cut: {error}")
        elif outcome in ("error", "protocol error"):
            self._emit("error", error or outcome)
        elif outcome == "completed":
            self._emit("hangup", "the caller hung up")

    async def _finalise(self) -> None:
        if self._transcriptions:
            await asyncio.gather(*self._transcriptions, return_exceptions=True)
        self.report.judge(self.options.reply_timeout)
        self.report.bot_audio = bytes(self._bot_audio)
        self.report.duration_ms = self.now_ms()
        self.report.transcript.sort(key=lambda line: line.t_ms)
        self._emit("ended", self.report.describe_outcome())

    def _emit(self, kind: EventKind, text: str = "", value_ms: float | None = None, turn: int | None = None) -> None:
        event = CallerEvent(kind=kind, t_ms=self.now_ms(), text=text, value_ms=value_ms, turn=turn)
        if self.options.on_event is not None:
            try:
                self.options.on_event(event)
            except Exception:
                log.exception("on_event callback failed")

    # -- receiving -------------------------------------------------------------------------

    async def _receive(self) -> None:
        assert self._ws is not None and self._playback is not None
        try:
            async for raw in self._ws:
                self._handle(raw)
        except ConnectionClosed as exc:
            self._finish("error", f"the connection broke {close_text(exc)}")
            return
        self._finish("error", f"the bot closed the connection {close_text(None, self._ws)} without a disconnect event")

    def _handle(self, raw: str | bytes) -> None:
        assert self._playback is not None
        now = self.now_ms()
        if isinstance(raw, str) and raw.startswith(KCONSOLE_EVENT_PREFIX):
            self._bot_event(raw, now)
            return
        try:
            event = parse_bot_event(raw)
        except ProtocolError as exc:
            self._protocol_error(str(exc))
            return
        if isinstance(event, PlayAudio):
            pcm = event.pcm
            if event.sample_rate != self.sample_rate:
                if not self._rate_warned:
                    self._rate_warned = True
                    self._protocol_error(
                        f"playAudio at {event.sample_rate} Hz on a {self.sample_rate} Hz stream (must match)"
                    )
                pcm = resample(pcm, event.sample_rate, self.sample_rate)
            if self.report.greeting_ms is None:
                base = self._metadata_ms or 0.0
                self.report.greeting_ms = now - base
                self._emit("greeting", "greeting: first audio", value_ms=self.report.greeting_ms)
            turn = self._turn
            if turn is not None and turn.speech_end_ms is not None and turn.first_audio_ms is None:
                turn.first_audio_ms = now - turn.speech_end_ms
            self._bot_audio += pcm
            self._playback.enqueue(pcm, now)
            if self._line is not None:
                self._line.bot_audio(pcm, now / 1000 * self.options.speed)  # on the line's clock
        elif isinstance(event, KillAudio):
            self.report.kill_audio_count += 1
            latency: float | None = None
            barge = self._barge
            if barge is not None and barge.speech_start_ms is not None and barge.kill_audio_ms is None:
                latency = barge.kill_audio_ms = now - barge.speech_start_ms
            playing = self._playback.reply
            heard = f", cut after {playing.heard_ms:.0f} ms heard" if playing is not None else " (nothing playing)"
            text = f"killAudio{heard}" + (f"; barge-in {latency:.0f} ms after speech onset" if latency is not None else "")
            self._emit("kill_audio", text, value_ms=latency, turn=barge.index if barge else None)
            self._playback.kill()
            if self._line is not None:
                self._line.kill(now / 1000 * self.options.speed)
            self.notifier.notify()
        elif isinstance(event, Transfer):
            self._emit("transfer", f"transfer -> {event.destination}")
            self._finish("transferred", None, transfer_to=event.destination, quiet=True)
        elif isinstance(event, Disconnect):
            self._emit("disconnect", "the bot disconnected the call")
            self._finish("disconnected", None, quiet=True)

    def _bot_event(self, raw: str, now: float) -> None:
        """The bot's own words, sent in-band by a kconsole bot that was asked for them."""
        try:
            event = parse_monitor_event(json.dumps(json.loads(raw)["data"]))
        except (ValueError, KeyError, TypeError):
            self._protocol_error("an unreadable kconsole.event frame")
            return
        if isinstance(event, BotSentence):
            if event.heard is None:
                self.report.bot_said.append(event.text)
                self.report.transcript.append(TranscriptLine(t_ms=now, speaker="bot", text=event.text))
                self._emit("bot_said", f'bot says: "{event.text}"', turn=event.turn)
            else:
                heard = event.heard.strip()
                self._emit("bot_said", f'bot cut off: the caller heard "{heard}" of "{event.text}"' if heard
                           else f'bot cut off before "{event.text}"', turn=event.turn)
        elif isinstance(event, TranscriptEvent) and event.final and event.text.strip():
            self._emit("bot_heard", f'bot heard: "{event.text.strip()}"')

    def _protocol_error(self, message: str) -> None:
        self.report.protocol_errors.append(message)
        self._emit("protocol_error", f"protocol error: {message}")
        if self.options.strict:
            self._finish("protocol error", message, quiet=True)

    def on_reply_closed(self, reply: BotReply) -> None:
        """Called by playback when a stretch of bot audio ends (drained or killed)."""
        if reply.interrupted:
            how = f"killed after {reply.heard_ms:.0f} ms heard"
        elif reply.heard_ms + 1 < reply.audio_ms:
            how = f"call ended after {reply.heard_ms:.0f} ms heard"
        else:
            how = "heard"
        self._emit("bot_audio", f"bot audio {reply.audio_ms:.0f} ms ({how})", value_ms=reply.audio_ms)
        line = TranscriptLine(t_ms=reply.start_ms, speaker="bot", text=f"[bot audio {reply.audio_ms:.0f} ms]")
        self.report.transcript.append(line)
        if self.options.transcriber is not None and reply.pcm:
            self._transcriptions.append(asyncio.create_task(self._transcribe(reply, line)))

    async def _transcribe(self, reply: BotReply, line: TranscriptLine) -> None:
        transcriber = self.options.transcriber
        assert transcriber is not None
        try:
            text = await transcriber(reply.pcm, self.sample_rate)
        except Exception as exc:  # noqa: BLE001 - a failed transcript must not fail the call
            self._emit("bot_said", f"(could not transcribe: {exc})")
            return
        reply.text = text
        shown = text or "(nothing recognised)"
        idx = self.report.transcript.index(line) if line in self.report.transcript else -1
        new = TranscriptLine(t_ms=line.t_ms, speaker="bot", text=shown + (" [cut]" if reply.interrupted else ""))
        if idx >= 0:
            self.report.transcript[idx] = new
        self._emit("bot_said", f"bot said: {shown}" if shown.startswith('"') else f'bot said: "{shown}"')

    async def _watchdog(self) -> None:
        """Knowlarity's rule: a stream with no audio back within a few seconds is cut."""
        got = await self.notifier.wait_for(lambda: self.report.greeting_ms is not None, self.options.no_audio_timeout)
        if not got:
            self._finish("no-audio timeout", f"no playAudio within {self.options.no_audio_timeout:g} s of connecting")

    # -- sending ---------------------------------------------------------------------------

    async def _send_frames(self) -> None:
        assert self._ws is not None
        await send_frames(self._ws, self._voice, self.options.speed, self.now_ms, self._line_send, origin=self._t0)

    async def _stream_mic(self, mic: AsyncIterator[bytes]) -> None:
        assert self._ws is not None
        if await stream_mic(self._ws, mic, self.frame_bytes, self._line_send, origin=self._t0):
            self._finish("completed", None)  # the microphone ended: the caller put the phone down

    # -- the script ------------------------------------------------------------------------

    async def _script(self, turns: Sequence[Turn], rendered: list[bytes]) -> None:
        assert self._playback is not None
        pb = self._playback
        await self.notifier.wait_for(lambda: self.report.greeting_ms is not None)  # the watchdog bounds this
        # `mark`: replies started before the caller's latest line began. A reply started
        # after it is the answer (for the first line, the greeting is).
        mark = 0
        prev_wait: Literal["reply"] | float = "reply"
        for index, (turn, pcm) in enumerate(zip(turns, rendered, strict=True)):
            if turn.interrupt_after_ms is not None:
                await self._await_barge_point(mark, turn.interrupt_after_ms, index)
            else:
                await self._apply_wait(prev_wait, mark, index - 1)
            mark = pb.replies_started
            await self._speak(index, turn, pcm)
            prev_wait = turn.wait
        await self._apply_wait(prev_wait, mark, len(turns) - 1)
        # Linger until a real-time player would have finished too, so a transfer or
        # disconnect sent at the end of the last reply is not lost to compression.
        remaining = pb.real_end_wall - time.monotonic()
        await asyncio.sleep(max(0.0, remaining) + self.options.hangup_grace)
        self._finish("completed", None)

    async def _apply_wait(self, wait: Literal["reply"] | float, mark: int, turn: int) -> None:
        """After a line: wait until its answer has been heard to the end, or a fixed time."""
        pb = self._playback
        assert pb is not None
        if wait != "reply":
            await asyncio.sleep(float(wait) / self.options.speed)
            return
        started = await self.notifier.wait_for(lambda: pb.replies_started > mark, self.options.reply_timeout)
        if not started:
            if turn >= 0:
                self._emit("no_reply", f"no reply within {self.options.reply_timeout:g} s", turn=turn)
                self.report.fail(self.report.unanswered(turn, self.options.reply_timeout))
            return
        await self.notifier.wait_for(lambda: pb.reply is None and not pb.queue)

    async def _await_barge_point(self, mark: int, after_ms: float, index: int) -> None:
        """Wait until `after_ms` of the bot's answer (or of the greeting) has been heard: a reply
        started after `mark` (the previous line began), never the reply that line talked over,
        which plays on until killAudio lands (barging into it again joins two lines into one turn)."""
        pb = self._playback
        assert pb is not None
        started = await self.notifier.wait_for(lambda: pb.replies_started > mark, self.options.reply_timeout)
        if not started:
            self._emit("no_reply", "no bot audio to interrupt", turn=index - 1 if index else None)
            return
        await self.notifier.wait_for(lambda: pb.reply is None or pb.reply.heard_ms >= after_ms)

    async def _speak(self, index: int, turn: Turn, pcm: bytes) -> None:
        assert self._playback is not None
        barging = self._playback.reply is not None
        report = TurnReport(index=index, text=turn.text, barge_in=barging, expects_reply=turn.wait == "reply")
        self.report.turns.append(report)
        started, done = self._voice.say(pcm)
        report.speech_start_ms = await started
        self._turn = report
        if barging:
            self._barge = report
        self.report.transcript.append(TranscriptLine(t_ms=report.speech_start_ms, speaker="caller", text=turn.text))
        prefix = "you interrupt: " if barging else "you said: "
        self._emit("caller_said", f'{prefix}"{turn.text}"', turn=index)
        report.speech_end_ms = await done
        self.notifier.notify()


async def place_call(
    url: str,
    conversation: Conversation | Sequence[Turn] | None = None,
    *,
    mic: AsyncIterator[bytes] | None = None,
    options: CallerOptions | None = None,
    **changes: Any,
) -> CallReport:
    """Place one call (`options` and `changes` as for `Caller`) and return its report."""
    return await Caller(url, options, **changes).run(conversation, mic=mic)
