"""The Stream Node emulator: call a voice bot the way Knowlarity does, and measure it.

One `Caller` is one phone call. It opens a WebSocket to the bot, sends the metadata
frame as the real Stream Node sends it (a JSON string wrapping a Python-style dict,
through `voice.protocol.encode_metadata`), then streams the caller's audio as 20 ms
binary frames in real time, silence included, for as long as the call lasts, just
as a telephone line does. At the same time it plays what the bot sends: playAudio
chunks go into a playback queue that is "heard" at real time, back to back;
killAudio empties the queue and stops playback at once; transfer and disconnect end
the call with that outcome. Knowlarity's rule is enforced: a bot that sends no
playAudio within `no_audio_timeout` seconds of the connection is cut.

What the caller says comes from a `Conversation`: a list of `Turn`s, each a line of
text (synthesised with the offline TTS at the stream's rate) or audio (a WAV file's
samples). A turn is spoken once the bot's previous reply has been heard to the end
(the playback queue drained, then a short quiet gap), or, for a barge-in, a given
number of milliseconds into the bot's reply. `kconsole call --mic` streams the
microphone instead.

Every call returns a `CallReport`: the outcome, the greeting latency (metadata sent
-> first playAudio), per turn the time from the caller's last word to the first
reply audio, barge-in latency (caller speech onset -> killAudio), the bot's audio,
and a transcript. An `on_event` callback sees each `CallerEvent` as it happens.

Time compression (`speed`): tests and the demo can run a call faster than real time.
`speed=4` sends the caller's frames four times as fast (a 20 ms frame every 5 ms)
and plays the bot's audio four times as fast; the quiet gap shrinks with it (never
below 150 ms of wall time). The bot's own processing is not compressed, so the
waits that judge the bot — `no_audio_timeout`, `reply_timeout` — and every reported
latency are in wall-clock time. A bot keeps its own playback clock (what the caller
has heard so far): at real time it thinks it is still speaking when a compressed
caller answers, and takes the answer for a barge-in. So compress the bot too (the
BotServer's `clock=ScaledClock(speed)`) and pass `bot_speed=speed`. Whatever the
bot's clock, the caller never hangs up before it says the last reply has been
played (plus `hangup_grace`), so a transfer or disconnect sent at the end of a reply
is never missed. Latency figures are only comparable with production at `speed=1`.

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
import math
import ssl
import time
import uuid
import wave
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from voice.audio import chunk_bytes, duration_ms, resample
from voice.config import SUPPORTED_RATES
from voice.protocol import (
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

FRAME_MS = 20
MAX_FRAME_BYTES = 16 * 1024 * 1024  # a bot may send a long WAV in one playAudio
MIN_QUIET_WALL_S = 0.15
SINK_LEAD_S = 0.06  # audio handed to a speaker ahead of the playback clock

Outcome = Literal["completed", "transferred", "disconnected", "no-audio timeout", "protocol error", "error"]
OK_OUTCOMES: frozenset[str] = frozenset({"completed", "transferred", "disconnected"})


class CallerError(ValueError):
    """Bad caller input (a WAV that cannot be read, an unsupported rate, a bad URL)."""


# ---- what the caller says ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Turn:
    """One thing the caller says, and how it takes its turn.

    `say` is text for the TTS; `audio` is PCM (mono int16 at `audio_rate`) such as a
    WAV file's samples, shown in the transcript as `label`. By default the line is
    spoken after the bot's previous reply has been heard to the end; with
    `interrupt_after_ms` it is spoken that many milliseconds into the bot's reply
    instead (a barge-in). `wait` says what follows the line when nothing interrupts:
    "reply" waits for the bot's reply to be heard; a number waits that many seconds.
    """

    say: str | None = None
    audio: bytes | None = None
    audio_rate: int = 16000
    label: str | None = None
    wait: Literal["reply"] | float = "reply"
    interrupt_after_ms: float | None = None

    def __post_init__(self) -> None:
        if (self.say is None) == (self.audio is None):
            raise CallerError("a turn needs exactly one of 'say' (text) or 'audio' (PCM)")
        if self.say is not None and not self.say.strip():
            raise CallerError("a turn's text is empty")
        if self.interrupt_after_ms is not None and self.interrupt_after_ms < 0:
            raise CallerError("interrupt_after_ms must be >= 0")
        if self.wait != "reply" and (not isinstance(self.wait, (int, float)) or self.wait < 0):
            raise CallerError("a turn's wait must be 'reply' or seconds >= 0")

    @property
    def text(self) -> str:
        """How the transcript shows this line."""
        if self.say is not None:
            return self.say
        secs = duration_ms(len(self.audio or b""), self.audio_rate) / 1000
        return f"[{self.label or 'audio'} {secs:.1f} s]"


@dataclass(frozen=True, slots=True)
class Conversation:
    """A scripted caller: a name, the turns, and what a good bot should end with."""

    name: str
    turns: tuple[Turn, ...]
    description: str = ""
    expect: Outcome | None = None  # the outcome this caller leads to with the default bot script


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """A WAV file as (mono int16 PCM, its rate): any channel count, 8/16/24/32-bit PCM.

    Channels are averaged. Anything `wave` cannot read (float or compressed WAV, not a
    WAV at all) is a CallerError naming the file.
    """
    p = Path(path)
    try:
        with wave.open(str(p), "rb") as wf:
            channels, width, rate = wf.getnchannels(), wf.getsampwidth(), wf.getframerate()
            raw = wf.readframes(wf.getnframes())
    except FileNotFoundError:
        raise CallerError(f"WAV file not found: {p}") from None
    except (wave.Error, EOFError) as exc:
        raise CallerError(f"cannot read {p} as a PCM WAV file: {exc}") from None
    except OSError as exc:
        raise CallerError(f"cannot read {p}: {exc.strerror or exc}") from None
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif width == 3:
        b = np.frombuffer(raw[: len(raw) - len(raw) % 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        samples = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8) >> 16  # sign-extend, keep the top 16 bits
    elif width == 4:
        samples = np.frombuffer(raw, dtype="<i4").astype(np.int64) >> 16
    else:
        raise CallerError(f"{p}: {8 * width}-bit samples are not supported")
    if channels > 1:
        usable = len(samples) - len(samples) % channels
        samples = samples[:usable].reshape(-1, channels).mean(axis=1)
    if rate <= 0:
        raise CallerError(f"{p}: invalid sample rate {rate}")
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes(), rate


def wav_turn(path: str | Path, **kwargs: Any) -> Turn:
    """A turn that plays a WAV file (resampled to the stream's rate when the call starts)."""
    pcm, rate = read_wav(path)
    return Turn(audio=pcm, audio_rate=rate, label=Path(path).name, **kwargs)


# ---- events and the report -----------------------------------------------------------------


EventKind = Literal[
    "connected", "greeting", "caller_said", "bot_audio", "bot_said", "kill_audio", "no_reply",
    "transfer", "disconnect", "protocol_error", "cut", "error", "hangup", "ended",
]


@dataclass(frozen=True, slots=True)
class CallerEvent:
    """Something that happened on the call, `t_ms` after the connection opened (wall time)."""

    kind: EventKind
    t_ms: float
    text: str = ""
    value_ms: float | None = None  # the latency or duration the event is about, if any
    turn: int | None = None


@dataclass(slots=True)
class TurnReport:
    """What happened around one caller turn; times are ms since the connection opened."""

    index: int
    text: str
    barge_in: bool = False
    speech_start_ms: float | None = None
    speech_end_ms: float | None = None
    first_audio_ms: float | None = None   # caller stopped speaking -> first reply playAudio
    kill_audio_ms: float | None = None    # caller speech onset -> killAudio (barge-in latency)


@dataclass(slots=True)
class BotReply:
    """One stretch of bot audio, from the first chunk to a drained queue (or killAudio)."""

    start_ms: float
    audio_ms: float = 0.0       # received
    heard_ms: float = 0.0       # played before it ended or was killed
    interrupted: bool = False
    text: str | None = None     # filled when transcription was asked for
    pcm: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    t_ms: float
    speaker: Literal["caller", "bot"]
    text: str


@dataclass(slots=True)
class CallReport:
    """Everything measured on one call. `bot_audio` is all PCM the bot sent, at `sample_rate`."""

    url: str
    call_id: str
    sample_rate: int
    speed: float
    outcome: Outcome = "error"
    transfer_to: str | None = None
    error: str | None = None
    greeting_ms: float | None = None
    duration_ms: float = 0.0
    turns: list[TurnReport] = field(default_factory=list)
    replies: list[BotReply] = field(default_factory=list)
    transcript: list[TranscriptLine] = field(default_factory=list)
    kill_audio_count: int = 0
    protocol_errors: list[str] = field(default_factory=list)
    bot_audio: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        """A call that ended the way calls should: completed, transferred or hung up by the bot."""
        return self.outcome in OK_OUTCOMES

    def describe_outcome(self) -> str:
        if self.outcome == "transferred":
            return f"transferred to {self.transfer_to}"
        if self.outcome == "disconnected":
            return "disconnected by the bot"
        if self.outcome == "completed":
            return "completed (the caller hung up)"
        if self.outcome == "no-audio timeout":
            return f"cut: {self.error}" if self.error else "cut: no audio from the bot"
        return f"{self.outcome}: {self.error}" if self.error else self.outcome

    @property
    def bot_audio_ms(self) -> float:
        return duration_ms(len(self.bot_audio), self.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the audio (its duration is included instead)."""
        data = {
            "url": self.url,
            "call_id": self.call_id,
            "sample_rate": self.sample_rate,
            "speed": self.speed,
            "outcome": self.outcome,
            "ok": self.ok,
            "transfer_to": self.transfer_to,
            "error": self.error,
            "greeting_ms": _round(self.greeting_ms),
            "duration_ms": _round(self.duration_ms),
            "bot_audio_ms": _round(self.bot_audio_ms),
            "kill_audio_count": self.kill_audio_count,
            "protocol_errors": list(self.protocol_errors),
            "turns": [{k: _round(v) if isinstance(v, float) else v for k, v in asdict(t).items()} for t in self.turns],
            "replies": [
                {k: _round(v) if isinstance(v, float) else v for k, v in asdict(r).items() if k != "pcm"}
                for r in self.replies
            ],
            "transcript": [asdict(line) | {"t_ms": _round(line.t_ms)} for line in self.transcript],
        }
        return data

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# ---- seams -----------------------------------------------------------------------------------


class AudioSink(Protocol):
    """Where heard bot audio goes (a voice.sound.Player, or anything with these two)."""

    def write(self, pcm: bytes) -> None: ...

    def clear(self) -> None: ...


class SpeechSynth(Protocol):
    """What renders `Turn.say` (voice.providers' TTSProvider shape)."""

    def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]: ...


Transcriber = Callable[[bytes, int], Awaitable[str]]


def default_tts() -> SpeechSynth:
    """The offline TTS the bot uses too (eSpeak NG, shipped with its data)."""
    from voice.providers.local_tts import EspeakTTS  # noqa: PLC0415 - loads a C library; only when needed

    return EspeakTTS()


def stt_transcriber(stt: Any) -> Transcriber:
    """Adapt an STTProvider (e.g. PocketsphinxSTT) into a whole-buffer transcriber.

    The audio is fed in 20 ms frames followed by a second of silence, so an
    endpointing recogniser finalises the last words; finals are joined.
    """

    async def transcribe(pcm: bytes, sample_rate: int) -> str:
        stream = await stt.open(sample_rate=sample_rate, call_id="kconsole-call-transcript")
        finals: list[str] = []

        async def collect() -> None:
            async for result in stream.results():
                if result.final and result.text.strip():
                    finals.append(result.text.strip())

        collector = asyncio.create_task(collect())
        try:
            step = chunk_bytes(sample_rate, FRAME_MS)
            padded = pcm + bytes(chunk_bytes(sample_rate, 1000))
            for off in range(0, len(padded), step):
                await stream.send(padded[off : off + step])
        finally:
            await stream.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await asyncio.shield(collector)
            if not collector.done():
                collector.cancel()
        return " ".join(finals)

    return transcribe


async def render_speech(tts: SpeechSynth, text: str, sample_rate: int) -> bytes:
    """All of `text` as PCM at `sample_rate`."""
    out = bytearray()
    async for chunk in tts.synthesize(text, sample_rate=sample_rate):
        out += chunk
    return bytes(out[: len(out) - len(out) % 2])


# ---- URLs -----------------------------------------------------------------------------------


def build_url(url: str, *, sample_rate: int | None = None) -> str:
    """Check a bot URL (ws:// or wss://) and add `sample_rate=` to its query if asked."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise CallerError(f"the bot URL must start with ws:// or wss://, got {redact_url(url)!r}")
    if not parts.hostname:
        raise CallerError(f"the bot URL has no host: {redact_url(url)!r}")
    if sample_rate is None:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "sample_rate"]
    query.append(("sample_rate", str(sample_rate)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def redact_url(url: str) -> str:
    """The URL as safe to print: query values other than sample_rate, and every path
    segment after the endpoint's first (where a bot takes its token: /voice/TOKEN),
    become ***. Short tokens are secrets too, so length is no test."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    query = [(k, v if k == "sample_rate" else "***") for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    segments = parts.path.split("/")
    first = next((i for i, seg in enumerate(segments) if seg), len(segments))
    path = "/".join(seg if i <= first or not seg else "***" for i, seg in enumerate(segments))
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=urlencode(query, safe="*")))


def insecure_ssl_context() -> ssl.SSLContext:
    """Accept any certificate (a bot with a self-signed cert on a dev box)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# ---- the caller's two clocks ----------------------------------------------------------------


class _Notifier:
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


class _Playback:
    """The caller's ear: bot audio queued and heard back to back at (compressed) real time.

    Like the Stream Node, chunks are played in arrival order with no gap; `kill`
    drops the queue and stops within one 20 ms slice. A reply (`BotReply`) opens
    with the first chunk heard after silence and closes when the queue has been
    empty for the quiet gap, or at once on killAudio.
    """

    def __init__(self, caller: Caller, sink: AudioSink | None) -> None:
        self.c = caller
        self.sink = sink
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
            self.c.report.replies.append(self.reply)
        self.reply.audio_ms += duration_ms(len(pcm), self.c.sample_rate)
        self._parts.append(pcm)
        now = time.monotonic()
        seconds = duration_ms(len(pcm), self.c.sample_rate) / 1000 / self.c.bot_speed
        self.real_end_wall = max(self.real_end_wall, now) + seconds
        self.queue.append(pcm)
        self._wake.set()
        self.c.notifier.notify()

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
        self.c.on_reply_closed(reply)
        self.c.notifier.notify()

    async def run(self) -> None:
        slice_bytes = chunk_bytes(self.c.sample_rate, FRAME_MS)
        speed = self.c.speed
        quiet_s = max(self.c.quiet_gap_ms / 1000 / speed, MIN_QUIET_WALL_S)
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
                piece_s = len(piece) / 2 / self.c.sample_rate
                played_s += piece_s
                if self.reply is not None:
                    self.reply.heard_ms += piece_s * 1000
                    self.c.notifier.notify()
                # A real speaker needs a little audio in hand or it clicks at every slice:
                # with a sink, run SINK_LEAD_S ahead of the playback clock.
                ahead = SINK_LEAD_S if self.sink is not None else 0.0
                delay = anchor + max(0.0, played_s - ahead) / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)


class _Voice:
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


# ---- the call ------------------------------------------------------------------------------


class Caller:
    """One emulated Stream Node call to a bot. Create, then `await run(...)` once.

    Options:
      sample_rate       the stream's rate (8k/16k/24k/32k/48k); frames are 20 ms of it.
      rate_in_url       add `?sample_rate=R` to the URL (bots that take the rate per connection).
      metadata          the call's CallMetadata (a random callid and demo numbers by default).
      python_style_metadata  send the metadata as Knowlarity does (True) or as plain JSON.
      ssl_context / insecure  TLS trust for wss:// (insecure accepts self-signed certificates).
      no_audio_timeout  seconds (wall) to the first playAudio before the call is cut.
      reply_timeout     seconds (wall) a turn waits for the bot to start a reply.
      quiet_gap_ms      call-time silence after the playback queue drains that ends a reply.
      hangup_grace      seconds (wall) to linger after the last reply for a transfer/disconnect.
      speed             time compression (see the module docstring); 1.0 is real time.
      bot_speed         how fast the bot's own playback clock runs: 1.0 for any real bot; a
                        test bot compressed like the caller says so, and the caller need not
                        linger for a real-time clock before hanging up.
      tts               renders `Turn.say` (default: the offline eSpeak TTS).
      sink              hears the bot's audio as it plays (a voice.sound.Player for --play).
      transcriber       turns each bot reply into text (e.g. stt_transcriber(PocketsphinxSTT())).
      on_event          called with every CallerEvent (live printing).
      strict            end the call on the first protocol error instead of going on.
    """

    def __init__(
        self,
        url: str,
        *,
        sample_rate: int = 16000,
        rate_in_url: bool = False,
        metadata: CallMetadata | None = None,
        python_style_metadata: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        insecure: bool = False,
        no_audio_timeout: float = 5.0,
        reply_timeout: float = 10.0,
        quiet_gap_ms: float = 700.0,
        hangup_grace: float = 1.0,
        speed: float = 1.0,
        bot_speed: float = 1.0,
        open_timeout: float = 10.0,
        tts: SpeechSynth | None = None,
        sink: AudioSink | None = None,
        transcriber: Transcriber | None = None,
        on_event: Callable[[CallerEvent], None] | None = None,
        strict: bool = False,
    ) -> None:
        if sample_rate not in SUPPORTED_RATES:
            raise CallerError(f"sample rate must be one of {', '.join(map(str, SUPPORTED_RATES))}, got {sample_rate}")
        if not 0.05 <= speed <= 100:
            raise CallerError(f"speed must be between 0.05 and 100, got {speed}")
        if not 0.05 <= bot_speed <= 100:
            raise CallerError(f"bot_speed must be between 0.05 and 100, got {bot_speed}")
        if no_audio_timeout <= 0:
            raise CallerError("no_audio_timeout must be > 0 seconds")
        self.url = build_url(url, sample_rate=sample_rate if rate_in_url else None)
        self.sample_rate = sample_rate
        self.metadata = metadata or CallMetadata(
            callid=str(uuid.uuid4()), virtual_number="+918069000000", customer_number="+919800000001"
        )
        self.python_style_metadata = python_style_metadata
        if ssl_context is None and insecure and self.url.startswith("wss://"):
            ssl_context = insecure_ssl_context()
        self.ssl_context = ssl_context
        self.no_audio_timeout = no_audio_timeout
        self.reply_timeout = reply_timeout
        self.quiet_gap_ms = quiet_gap_ms
        self.hangup_grace = hangup_grace
        self.speed = speed
        self.bot_speed = bot_speed
        self.open_timeout = open_timeout
        self.tts = tts
        self.sink = sink
        self.transcriber = transcriber
        self.on_event = on_event
        self.strict = strict
        self.frame_bytes = chunk_bytes(sample_rate, FRAME_MS)
        self.report = CallReport(
            url=redact_url(self.url), call_id=self.metadata.callid, sample_rate=sample_rate, speed=speed
        )
        self.notifier = _Notifier()
        self._t0 = 0.0
        self._metadata_ms: float | None = None
        self._ws: ClientConnection | None = None
        self._voice = _Voice(self.frame_bytes)
        self._playback: _Playback | None = None
        self._ended: asyncio.Future[None] | None = None
        self._bot_audio = bytearray()
        self._turn: TurnReport | None = None
        self._barge: TurnReport | None = None
        self._rate_warned = False
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
            speech = await self._prepare(turns)
        except CallerError as exc:
            self._finish("error", str(exc))
            self._emit("ended", self.report.describe_outcome())
            return self.report
        await self._call(turns, speech, mic)
        return self.report

    def now_ms(self) -> float:
        return (time.monotonic() - self._t0) * 1000

    # -- preparation -----------------------------------------------------------------------

    async def _prepare(self, turns: Sequence[Turn]) -> list[bytes]:
        """Render every line before dialling: a person has the words ready; synthesis
        time must not count against the bot."""
        speech: list[bytes] = []
        for turn in turns:
            if turn.audio is not None:
                speech.append(resample(turn.audio, turn.audio_rate, self.sample_rate))
                continue
            assert turn.say is not None
            if self.tts is None:
                try:
                    self.tts = default_tts()
                except Exception as exc:  # noqa: BLE001 - any failure to load the TTS is one clear line
                    raise CallerError(f"the offline TTS is unavailable: {exc}") from None
            try:
                pcm = await render_speech(self.tts, turn.say, self.sample_rate)
            except Exception as exc:  # noqa: BLE001
                raise CallerError(f"could not synthesise {turn.say!r}: {exc}") from None
            if not pcm:
                raise CallerError(f"the TTS produced no audio for {turn.say!r}")
            speech.append(pcm)
        return speech

    # -- the call --------------------------------------------------------------------------

    async def _call(self, turns: Sequence[Turn], speech: list[bytes], mic: AsyncIterator[bytes] | None) -> None:
        loop = asyncio.get_running_loop()
        self._ended = loop.create_future()
        self._t0 = time.monotonic()
        tasks: list[asyncio.Task[Any]] = []
        try:
            if self._finished:  # hung up before dialling
                return
            try:
                tls: dict[str, Any] = {"ssl": self.ssl_context} if self.ssl_context and self.url.startswith("wss://") else {}
                self._ws = await connect(
                    self.url,
                    **tls,
                    open_timeout=self.open_timeout,
                    max_size=MAX_FRAME_BYTES,
                    close_timeout=2,
                    ping_interval=None,
                    compression=None,
                )
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ssl.SSLError) as exc:
                self._finish("error", f"cannot connect to {self.report.url}: {_describe_connect_error(exc)}")
                return
            self._t0 = time.monotonic()
            self._emit("connected", f"connected to {self.report.url}")
            self._playback = _Playback(self, self.sink)
            try:
                await self._ws.send(encode_metadata(self.metadata, python_style=self.python_style_metadata))
            except ConnectionClosed as exc:
                self._finish("error", f"the bot closed the connection {_close_text(exc)} before the metadata")
                return
            self._metadata_ms = self.now_ms()
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
                tasks.append(asyncio.create_task(self._script(turns, speech), name="caller-script"))
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
        self.report.bot_audio = bytes(self._bot_audio)
        self.report.duration_ms = self.now_ms()
        self.report.transcript.sort(key=lambda line: line.t_ms)
        self._emit("ended", self.report.describe_outcome())

    def _emit(self, kind: EventKind, text: str = "", value_ms: float | None = None, turn: int | None = None) -> None:
        event = CallerEvent(kind=kind, t_ms=self.now_ms(), text=text, value_ms=value_ms, turn=turn)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # noqa: BLE001 - a printing callback must not break the call
                log.exception("on_event callback failed")

    # -- receiving -------------------------------------------------------------------------

    async def _receive(self) -> None:
        assert self._ws is not None and self._playback is not None
        try:
            async for raw in self._ws:
                self._handle(raw)
        except ConnectionClosed as exc:
            self._finish("error", f"the connection broke {_close_text(exc)}")
            return
        self._finish("error", f"the bot closed the connection {_close_text(None, self._ws)} without a disconnect event")

    def _handle(self, raw: str | bytes) -> None:
        assert self._playback is not None
        now = self.now_ms()
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
            self.notifier.notify()
        elif isinstance(event, Transfer):
            self._emit("transfer", f"transfer -> {event.destination}")
            self._finish("transferred", None, transfer_to=event.destination, quiet=True)
        elif isinstance(event, Disconnect):
            self._emit("disconnect", "the bot disconnected the call")
            self._finish("disconnected", None, quiet=True)

    def _protocol_error(self, message: str) -> None:
        self.report.protocol_errors.append(message)
        self._emit("protocol_error", f"protocol error: {message}")
        if self.strict:
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
        if self.transcriber is not None and reply.pcm:
            self._transcriptions.append(asyncio.create_task(self._transcribe(reply, line)))

    async def _transcribe(self, reply: BotReply, line: TranscriptLine) -> None:
        assert self.transcriber is not None
        try:
            text = await self.transcriber(reply.pcm, self.sample_rate)
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
        got = await self.notifier.wait_for(lambda: self.report.greeting_ms is not None, self.no_audio_timeout)
        if not got:
            self._finish("no-audio timeout", f"no playAudio within {self.no_audio_timeout:g} s of connecting")

    # -- sending ---------------------------------------------------------------------------

    async def _send_frames(self) -> None:
        """One frame every 20 ms (÷ speed), on a deadline schedule so it never drifts.

        Behind schedule (a slow loop), frames go out back to back to catch up, but
        never more than 200 ms' worth: then the schedule restarts from now.
        """
        assert self._ws is not None
        loop = asyncio.get_running_loop()
        period = FRAME_MS / 1000 / self.speed
        start, n = loop.time(), 0
        while True:
            frame, first, last = self._voice.next_frame()
            try:
                await self._ws.send(frame)
            except ConnectionClosed:
                return  # the receiver drains what the bot sent before closing and decides the outcome
            if first or last:
                self._voice.sent(self.now_ms(), first, last)
            n += 1
            delay = start + n * period - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:
                start, n = loop.time(), 0

    async def _stream_mic(self, mic: AsyncIterator[bytes]) -> None:
        """The microphone paces itself (real time); frames are re-cut to exactly 20 ms."""
        assert self._ws is not None
        buf = bytearray()
        async for chunk in mic:
            buf += chunk
            while len(buf) >= self.frame_bytes:
                try:
                    await self._ws.send(bytes(buf[: self.frame_bytes]))
                except ConnectionClosed:
                    return  # the receiver decides the outcome
                del buf[: self.frame_bytes]
        self._finish("completed", None)

    # -- the script ------------------------------------------------------------------------

    async def _script(self, turns: Sequence[Turn], speech: list[bytes]) -> None:
        assert self._playback is not None
        pb = self._playback
        await self.notifier.wait_for(lambda: self.report.greeting_ms is not None)  # the watchdog bounds this
        # `mark`: replies started before the caller's latest line began. A reply started
        # after it is the answer (for the first line, the greeting is).
        mark = 0
        prev_wait: Literal["reply"] | float = "reply"
        for index, (turn, pcm) in enumerate(zip(turns, speech, strict=True)):
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
        await asyncio.sleep(max(0.0, remaining) + self.hangup_grace)
        self._finish("completed", None)

    async def _apply_wait(self, wait: Literal["reply"] | float, mark: int, turn: int) -> None:
        """After a line: wait until its answer has been heard to the end, or a fixed time."""
        pb = self._playback
        assert pb is not None
        if wait != "reply":
            await asyncio.sleep(float(wait) / self.speed)
            return
        started = await self.notifier.wait_for(lambda: pb.replies_started > mark, self.reply_timeout)
        if not started:
            if turn >= 0:
                self._emit("no_reply", f"no reply within {self.reply_timeout:g} s", turn=turn)
            return
        await self.notifier.wait_for(lambda: pb.reply is None and not pb.queue)

    async def _await_barge_point(self, mark: int, after_ms: float, index: int) -> None:
        """Wait until `after_ms` of the bot's answer (or of the greeting) has been heard."""
        pb = self._playback
        assert pb is not None
        started = await self.notifier.wait_for(
            lambda: pb.replies_started > mark or pb.reply is not None, self.reply_timeout
        )
        if not started:
            self._emit("no_reply", "no bot audio to interrupt", turn=index - 1 if index else None)
            return
        await self.notifier.wait_for(lambda: pb.reply is None or pb.reply.heard_ms >= after_ms)

    async def _speak(self, index: int, turn: Turn, pcm: bytes) -> None:
        assert self._playback is not None
        barging = self._playback.reply is not None
        report = TurnReport(index=index, text=turn.text, barge_in=barging)
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


def _describe_connect_error(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); use --insecure for a self-signed certificate"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, InvalidHandshake):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "timed out opening the connection"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the bot running?)"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _close_text(exc: ConnectionClosed | None, ws: ClientConnection | None = None) -> str:
    if exc is not None:
        frame = exc.rcvd
        if frame is None:
            return "(no close frame)"
        return f"(code {frame.code}: {frame.reason})" if frame.reason else f"(code {frame.code})"
    code = ws.close_code if ws is not None else None
    reason = ws.close_reason if ws is not None else None
    if code is None:
        return "(no close frame)"
    return f"(code {code}: {reason})" if reason else f"(code {code})"


async def place_call(
    url: str,
    conversation: Conversation | Sequence[Turn] | None = None,
    *,
    mic: AsyncIterator[bytes] | None = None,
    **options: Any,
) -> CallReport:
    """Place one call (see `Caller` for the options) and return its report."""
    return await Caller(url, **options).run(conversation, mic=mic)


def format_ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.0f} ms"
