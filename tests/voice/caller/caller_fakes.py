"""A tiny fake bot for the caller's tests, and a tone "voice" for scripted lines.

The fake bot speaks the real Stream Node protocol over a loopback WebSocket: it
records the metadata frame and every audio frame, greets with a tone, detects the
caller's speech by energy, sends killAudio when the caller talks over it, and acts
on each finished caller utterance from a list of actions (echo, tone, transfer,
disconnect, malformed frames, close). Its endpointing counts audio frames, not wall
time, so it works with a time-compressed caller.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import threading
import time
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve

from voice.audio import chunk_bytes, duration_ms, rms_dbfs
from voice.protocol import DISCONNECT, KILL_AUDIO, CallMetadata, parse_metadata, pcm_to_wav, play_audio, transfer


def tone(sample_rate: int, ms: float, freq: float = 440.0, amp: int = 8000) -> bytes:
    n = int(sample_rate * ms / 1000)
    t = np.arange(n) / sample_rate
    return (amp * np.sin(2 * math.pi * freq * t)).astype("<i2").tobytes()


def constant(sample_rate: int, ms: float, value: int) -> bytes:
    return np.full(int(sample_rate * ms / 1000), value, dtype="<i2").tobytes()


class ToneTTS:
    """Stands in for the offline TTS: 40 ms of a 300 Hz tone per character, in 100 ms chunks."""

    name = "tone"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        self.calls.append((text, sample_rate))
        pcm = tone(sample_rate, 40 * len(text), freq=300)
        step = chunk_bytes(sample_rate, 100)
        for off in range(0, len(pcm), step):
            yield pcm[off : off + step]


@dataclass
class BotCall:
    """What the fake bot saw on one connection."""

    path: str
    metadata_raw: str | bytes | None = None
    metadata: CallMetadata | None = None
    frame_sizes: list[int] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    utterances: list[bytes] = field(default_factory=list)
    kills_sent: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class FakeBot:
    """The fake bot server. `actions` are consumed one per finished caller utterance:

    "echo"            send the utterance back as audio
    "tone:MS"         a tone of MS ms (the default when the list runs out: "tone:600")
    "transfer:DEST"   a short tone, then transfer to DEST
    "disconnect"      a short tone, then disconnect
    "late_disconnect" a 600 ms tone, then disconnect once the bot's own clock says it was played
    "close"           close the socket without an event
    "silent"          nothing
    "silence:MS"      MS ms of digital silence as playAudio (a reply the caller cannot hear)
    """

    def __init__(
        self,
        *,
        speed: float = 1.0,
        greeting_ms: float = 600,
        greeting_chunks: list[bytes] | None = None,
        greet: bool = True,
        chunk_ms: float = 100,
        actions: list[str] | None = None,
        before_greeting: list[str | bytes] | None = None,
        kill_on_speech: bool = True,
        kill_delay_ms: float = 0.0,
        end_silence_ms: float = 300,
        speech_db: float = -35.0,
        reply_rate: int | None = None,
        ssl_context: Any = None,
    ) -> None:
        self.speed = speed
        self.greeting_ms = greeting_ms
        self.greeting_chunks = greeting_chunks
        self.greet = greet
        self.chunk_ms = chunk_ms
        self.actions = list(actions or [])
        self.before_greeting = list(before_greeting or [])
        self.kill_on_speech = kill_on_speech
        self.kill_delay_ms = kill_delay_ms  # killAudio this long after the speech began (a slow bot)
        self.end_silence_ms = end_silence_ms
        self.speech_db = speech_db
        self.reply_rate = reply_rate
        self.ssl_context = ssl_context
        self.calls: list[BotCall] = []
        self._server: Server | None = None

    async def start(self) -> FakeBot:
        self._server = await serve(self._handler, "127.0.0.1", 0, ssl=self.ssl_context, max_size=None)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return next(iter(self._server.sockets)).getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/voice"

    # -- one call ----------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        call = BotCall(path=ws.request.path if ws.request else "")
        self.calls.append(call)
        try:
            await self._serve_call(ws, call)
        finally:
            call.closed.set()

    def _rate(self, call: BotCall) -> int:
        if "sample_rate=" in call.path:
            return int(call.path.split("sample_rate=")[1].split("&")[0])
        return self.reply_rate or 16000

    async def _serve_call(self, ws: ServerConnection, call: BotCall) -> None:
        call.metadata_raw = await ws.recv()
        call.metadata = parse_metadata(call.metadata_raw)
        rate = self._rate(call)
        out_rate = self.reply_rate or rate
        speaking_until = 0.0

        async def speak(pcm: bytes) -> None:
            nonlocal speaking_until
            step = chunk_bytes(out_rate, self.chunk_ms)
            for off in range(0, len(pcm), step):
                await ws.send(play_audio(pcm[off : off + step], out_rate))
            now = time.monotonic()
            speaking_until = max(speaking_until, now) + duration_ms(len(pcm), out_rate) / 1000 / self.speed

        for raw in self.before_greeting:
            await ws.send(raw)
        if self.greet:
            if self.greeting_chunks is not None:
                for chunk in self.greeting_chunks:
                    await ws.send(play_audio(chunk, out_rate))
                total = sum(len(c) for c in self.greeting_chunks)
                speaking_until = time.monotonic() + duration_ms(total, out_rate) / 1000 / self.speed
            else:
                await speak(tone(out_rate, self.greeting_ms))

        utterance = bytearray()
        in_speech = False
        silent_ms = 0.0
        done = asyncio.Event()
        acting: set[asyncio.Task[None]] = set()

        async def act(action: str, said: bytes) -> None:
            # Actions run beside the reader, so the bot keeps consuming audio (as a real
            # bot must) while it sleeps or speaks.
            if await self._act(ws, action, said, rate, out_rate, speak):
                done.set()

        async def kill(after_s: float) -> None:
            await asyncio.sleep(after_s)
            await ws.send(KILL_AUDIO)
            call.kills_sent += 1

        async def read() -> None:
            nonlocal in_speech, silent_ms, speaking_until
            async for message in ws:
                if done.is_set():
                    return
                if isinstance(message, str):
                    continue
                call.frame_sizes.append(len(message))
                call.frame_times.append(time.monotonic())
                frame_ms = duration_ms(len(message), rate)
                if rms_dbfs(message) > self.speech_db:
                    if not in_speech:
                        in_speech = True
                        if self.kill_on_speech and time.monotonic() < speaking_until:
                            speaking_until = 0.0
                            if self.kill_delay_ms:
                                late = asyncio.create_task(kill(self.kill_delay_ms / 1000 / self.speed))
                                acting.add(late)
                                late.add_done_callback(acting.discard)
                            else:
                                await kill(0.0)
                    silent_ms = 0.0
                    utterance.extend(message)
                elif in_speech:
                    silent_ms += frame_ms
                    if silent_ms >= self.end_silence_ms:
                        in_speech = False
                        said = bytes(utterance)
                        utterance.clear()
                        call.utterances.append(said)
                        action = self.actions.pop(0) if self.actions else "tone:600"
                        task = asyncio.create_task(act(action, said))
                        acting.add(task)
                        task.add_done_callback(acting.discard)

        reader = asyncio.create_task(read())
        ender = asyncio.create_task(done.wait())
        try:
            await asyncio.wait({reader, ender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, ender, *acting):
                task.cancel()
            await asyncio.gather(reader, ender, *acting, return_exceptions=True)

    async def _act(self, ws: ServerConnection, action: str, said: bytes, rate: int, out_rate: int, speak: Any) -> bool:
        """Run one action; True when the call is over."""
        kind, _, arg = action.partition(":")
        if kind == "echo":
            from voice.audio import resample

            await speak(resample(said, rate, out_rate))
        elif kind == "tone":
            await speak(tone(out_rate, float(arg or 600)))
        elif kind == "silence":
            await speak(bytes(2 * int(out_rate * float(arg or 600) / 1000)))
        elif kind == "transfer":
            await speak(tone(out_rate, 200))
            await ws.send(transfer(arg or "+919000000000"))
            return True
        elif kind == "disconnect":
            await speak(tone(out_rate, 200))
            await ws.send(DISCONNECT)
            return True
        elif kind == "late_disconnect":
            await speak(tone(out_rate, 600))
            await asyncio.sleep(0.6 / self.speed)
            await ws.send(DISCONNECT)
            return True
        elif kind == "close":
            await ws.close(1000, "bye")
            return True
        return False


class ThreadedFakeBot:
    """A FakeBot on its own event loop in a thread, for testing the synchronous CLI main()."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.bot: FakeBot | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FakeBot:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(FakeBot(**self.options).start(), self.loop)
        self.bot = fut.result(10)
        return self.bot

    def __exit__(self, *exc: object) -> None:
        if self.bot is not None:
            asyncio.run_coroutine_threadsafe(self.bot.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def bad_frames(rate: int = 16000) -> list[str | bytes]:
    """One of each kind of malformed bot frame."""
    stereo = bytearray(pcm_to_wav(constant(rate, 20, 100), rate))
    stereo[22] = 2  # channel count
    return [
        "this is not json",
        json.dumps({"type": "dance"}),
        b"\x00\x01binary",
        json.dumps({"type": "playAudio", "data": {"audioContentType": "wav", "audioContent": "@@not base64@@"}}),
        json.dumps({"type": "playAudio", "data": {"audioContentType": "wav", "audioContent": base64.b64encode(bytes(stereo)).decode()}}),
        json.dumps({"type": "transfer", "data": {}}),
    ]


class FakePortAudioError(Exception):
    pass


class FakeStream:
    def __init__(self, sd: FakeSoundDevice, kind: str, samplerate: int, callback: Any, **kw: Any) -> None:
        if samplerate not in sd.rates:
            raise FakePortAudioError(f"Invalid sample rate {samplerate}")
        self.kind, self.samplerate, self.callback, self.kw = kind, samplerate, callback, kw
        self.started = self.closed = False
        sd.streams.append(self)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True

    def pull(self, frames: int) -> bytes:
        """What the speaker plays for one callback of `frames` samples."""
        out = bytearray(frames * 2)
        self.callback(memoryview(out), frames, None, None)
        return bytes(out)


class FakeSoundDevice(types.ModuleType):
    def __init__(self, *, rates: set[int], has_output: bool = True, has_input: bool = True, default_rate: int = 48000) -> None:
        super().__init__("sounddevice")
        self.rates, self.has_output, self.has_input, self.default_rate = rates, has_output, has_input, default_rate
        self.streams: list[FakeStream] = []
        self.PortAudioError = FakePortAudioError

    def query_devices(self, device: Any = None, kind: str | None = None) -> dict[str, Any]:
        if (kind == "output" and not self.has_output) or (kind == "input" and not self.has_input):
            raise FakePortAudioError(f"Error querying device -1 ({kind})")
        return {"name": "fake", "default_samplerate": float(self.default_rate)}

    def RawOutputStream(self, **kw: Any) -> FakeStream:
        return FakeStream(self, "output", **kw)

    def RawInputStream(self, **kw: Any) -> FakeStream:
        return FakeStream(self, "input", **kw)
