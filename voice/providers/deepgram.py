"""Deepgram live speech to text over its WebSocket protocol (`websockets`, no SDK).

The wire protocol (https://developers.deepgram.com/reference/listen-live): connect to
`/v1/listen?model=..&encoding=linear16&sample_rate=R&channels=1&interim_results=true
&endpointing=300&utterance_end_ms=1000&vad_events=true` with `Authorization: Token
KEY`; send binary audio; receive JSON `Results` (interim and `is_final` segments,
`speech_final` at an endpoint), `UtteranceEnd`, `SpeechStarted`, `Metadata`. Send
`{"type": "KeepAlive"}` when no audio flows (Deepgram closes an idle socket with 1011
after ~10 s) and `{"type": "CloseStream"}` to flush and finish.

Turns. Deepgram's own endpointing is a fixed silence, wrong both ways (too slow after a
complete question, too quick inside "I want to... uh..."). So by default the stream
asks for a short `endpointing` (100 ms: finals arrive soon after every pause) and
decides the end of the turn itself with `voice.turn.TurnDetector`, fed the same audio
it sends: every `is_final` segment is a final Transcript with `speech_final=False`
(a piece of the turn), and when the detector says the turn is over (all words heard
so far finalised, the pause long enough for what they say and how they were said) an
empty final with `speech_final=True` ends it; when it is probably over, an `eager`
interim with the turn's text goes first. `UtteranceEnd` (utterance_end_ms=1000) stays
the backstop: after unterminated finals it ends the turn too. With `turn=None` the
old mapping holds: `speech_final` is Deepgram's flag and `UtteranceEnd` the backup.

Provider sockets are disposable: when the socket drops (1011, a reset, anything but
our own CloseStream) the stream reconnects with bounded backoff, and the call never
notices. Audio is kept until Deepgram has finalised it (the `start + duration` of
final segments tells how far that is), so on reconnect the unfinalised tail — speech
that was in flight when the socket died, plus everything that arrived while it was
down — is replayed first. That buffer is bounded (`replay_s`); only audio older than
that is ever lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any
from urllib.parse import urlencode, urlsplit

from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from kcommon.backoff import Backoff
from kcommon.redact import register_secret
from voice.logs import CallLog
from voice.providers.base import ProviderError, Transcript, TranscriptOutbox
from voice.turn import TurnConfig, TurnDetector, TurnState

LOGGER = logging.getLogger("voice.providers.deepgram")


# The socket's own logger: websockets logs every handshake header at DEBUG, Authorization
# included; the key is registered with the one redactor, which every log record goes through.
WIRE_LOGGER = logging.getLogger("voice.providers.deepgram.wire")
SEND_CHUNK = 8000  # bytes per frame when replaying a backlog


def _secret(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class DeepgramSTT:
    """`STTProvider` for Deepgram live streaming."""

    name = "deepgram"

    def __init__(
        self,
        api_key: SecretStr | str,
        *,
        url: str = "wss://api.deepgram.com/v1/listen",
        model: str = "nova-2",
        language: str = "en",
        endpointing_ms: int | None = None,
        utterance_end_ms: int = 1000,
        turn: TurnConfig | None = TurnConfig(),
        keepalive_s: float = 5.0,
        max_reconnects: int = 6,
        backoff_s: float = 0.1,
        backoff_max_s: float = 2.0,
        replay_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        close_timeout_s: float = 3.0,
    ) -> None:
        key = _secret(api_key)
        if not key.strip():
            raise ProviderError("the Deepgram API key is empty")
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ProviderError(f"DEEPGRAM_URL must be a ws:// or wss:// URL, got {parts.scheme or 'no'} scheme")
        self._key = SecretStr(key)
        register_secret(key)
        self.url = url
        self.model = model
        self.language = language
        # our own turn decision on top of a short vendor endpoint; without one, Deepgram's 300 ms
        self.turn = turn
        self.endpointing_ms = endpointing_ms if endpointing_ms is not None else (100 if turn is not None else 300)
        self.utterance_end_ms = utterance_end_ms
        self.keepalive_s = keepalive_s
        self.max_reconnects = max_reconnects
        self.backoff = Backoff(base=backoff_s, factor=2.0, cap=max(backoff_s, backoff_max_s), jitter=0.25)
        self.replay_s = replay_s
        self.connect_timeout_s = connect_timeout_s
        self.close_timeout_s = close_timeout_s

    def __repr__(self) -> str:
        return f"DeepgramSTT(model={self.model!r}, url={self.url!r}, api_key=SecretStr('**********'))"

    def listen_url(self, sample_rate: int) -> str:
        query = {
            "model": self.model,
            "language": self.language,
            "encoding": "linear16",
            "sample_rate": str(sample_rate),
            "channels": "1",
            "interim_results": "true",
            "endpointing": str(self.endpointing_ms),
            "utterance_end_ms": str(self.utterance_end_ms),
            "vad_events": "true",
        }
        return f"{self.url}{'&' if '?' in self.url else '?'}{urlencode(query)}"

    async def _connect(self, sample_rate: int) -> ClientConnection:
        """One connection attempt; every failure becomes a ProviderError without the key."""
        try:
            return await asyncio.wait_for(
                connect(
                    self.listen_url(sample_rate),
                    additional_headers={"Authorization": f"Token {self._key.get_secret_value()}"},
                    open_timeout=self.connect_timeout_s,
                    ping_interval=20,
                    ping_timeout=20,
                    max_size=2**20,
                    logger=WIRE_LOGGER,
                ),
                self.connect_timeout_s + 1,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise ProviderError(f"Deepgram rejected the API key (HTTP {status})") from None
            raise ProviderError(f"Deepgram refused the connection (HTTP {status})") from None
        except (InvalidURI, InvalidHandshake) as exc:
            raise ProviderError(f"Deepgram handshake failed: {type(exc).__name__}") from None
        except TimeoutError:
            raise ProviderError("Deepgram did not answer in time") from None
        except OSError as exc:
            raise ProviderError(f"cannot reach Deepgram: {exc.strerror or type(exc).__name__}") from None

    async def open(self, *, sample_rate: int, call_id: str) -> DeepgramStream:
        if sample_rate <= 0:
            raise ProviderError(f"bad sample rate {sample_rate}")
        ws = await self._connect(sample_rate)
        return DeepgramStream(self, ws, sample_rate=sample_rate, call_id=call_id)


class DeepgramStream(TranscriptOutbox):
    """One call's live transcription; reconnects by itself. Create via `DeepgramSTT.open`."""

    def __init__(self, provider: DeepgramSTT, ws: ClientConnection, *, sample_rate: int, call_id: str) -> None:
        self.provider = provider
        self.sample_rate = sample_rate
        self.call_id = call_id
        self.log = CallLog(call_id, "DEEPGRAM", LOGGER)
        self.reconnects = 0
        self.interims = 0
        self.finals = 0
        self.errors = 0
        # Audio not yet finalised by Deepgram, as absolute byte offsets in the call's audio.
        self._buf = bytearray()
        self._buf_start = 0  # absolute offset of _buf[0] (= audio finalised so far)
        self._sent_end = 0  # absolute offset up to which this connection has been sent audio
        self._conn_base = 0  # absolute offset where this connection's audio (its t=0) starts
        self._max_buf = int(provider.replay_s * sample_rate * 2)
        self._overflow_warned = False
        self._open_finals = False  # finals seen since the last endpoint
        turn = provider.turn
        self.turn_detection = turn is not None
        self._turn = TurnDetector(sample_rate, turn) if turn is not None else None
        self._turn_text = ""  # finals of the turn still going on
        self._finalised = True  # no interim since the last final: Deepgram has finalised all it heard
        self._eager_sent = False
        self._ws: ClientConnection | None = ws
        self._new_audio = asyncio.Event()
        self._closing = False
        super().__init__()
        self._task = asyncio.get_running_loop().create_task(self._run(ws), name=f"deepgram-{call_id}")

    # ---- the STTStream API ----

    @property
    def unconfirmed_bytes(self) -> int:
        """Audio sent but not yet finalised by Deepgram, kept to replay after a reconnect
        (at most `replay_s` of it: the oldest is dropped first while disconnected)."""
        return len(self._buf)

    async def send(self, pcm: bytes) -> None:
        self.send_nowait(pcm)

    def send_nowait(self, pcm: bytes) -> None:
        """Buffers only (the socket's writer task sends): never waits."""
        if self._closing or not pcm:
            return
        if self._turn is not None:
            self._turn.push(pcm)
            self._check_turn()
        self._buf += pcm
        overflow = len(self._buf) - self._max_buf
        if overflow > 0:
            overflow += overflow % 2
            del self._buf[:overflow]
            self._buf_start += overflow
            self._sent_end = max(self._sent_end, self._buf_start)
            # Connected, this only trims audio Deepgram has long since heard (it confirms
            # silence sparsely); disconnected, it is audio that will never be heard.
            if self._ws is None and not self._overflow_warned:
                self._overflow_warned = True
                self.log.warning("still reconnecting after %.0f s of audio: dropping the oldest", self.provider.replay_s)
        self._new_audio.set()

    async def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._new_audio.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.provider.close_timeout_s + 1)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ---- internals ----

    async def _run(self, ws: ClientConnection | None) -> None:
        """Connection manager: run a connection; on a drop, reconnect and replay."""
        try:
            attempt = 0
            while True:
                if ws is None:
                    ws = await self._reconnect(attempt)
                    attempt += 1
                    if ws is None:
                        continue
                finished = await self._session(ws)
                ws = None
                if finished:
                    return
                attempt = 0
        except _Closed:
            pass
        except ProviderError as exc:
            self._out.put_nowait(exc)
        except Exception as exc:
            self.log.exception("stream failed")
            self._out.put_nowait(ProviderError(f"Deepgram stream failed: {type(exc).__name__}"))
        finally:
            self._ws = None
            if self._open_finals and self._turn is not None:
                self._end_turn("end of stream")  # whatever was said is the turn
            self._out.put_nowait(None)
            self.log.info("Stream summary | audio sent=%.1f s | transcripts interim=%d final=%d | reconnects=%d | errors=%d",
                          self._sent_end / 2 / self.sample_rate, self.interims, self.finals, self.reconnects, self.errors)

    async def _reconnect(self, attempt: int) -> ClientConnection | None:
        if self._closing and not self._buf:
            raise _Closed  # nothing left that Deepgram has not confirmed
        if attempt >= self.provider.max_reconnects:
            raise ProviderError(f"Deepgram connection lost; gave up after {attempt} reconnect attempts")
        # jitter: many calls must not reconnect in lockstep
        delay = self.provider.backoff.delay(attempt + 1, random.random())
        self.log.warning("connection lost; reconnecting in %.2f s (attempt %d)", delay, attempt + 1)
        await asyncio.sleep(delay)
        try:
            ws = await self.provider._connect(self.sample_rate)
        except ProviderError as exc:
            if "API key" in str(exc):
                raise
            self.log.warning("reconnect failed: %s", exc)
            return None
        self.reconnects += 1
        self.log.info("reconnected; replaying %.0f ms of unconfirmed audio", len(self._buf) / 2 / self.sample_rate * 1000)
        return ws

    async def _session(self, ws: ClientConnection) -> bool:
        """Serve one connection. True when the stream finished normally (CloseStream)."""
        self._ws = ws
        self._conn_base = self._buf_start
        self._sent_end = self._buf_start
        sender = asyncio.create_task(self._sender(ws))
        try:
            async for raw in ws:
                if isinstance(raw, bytes):
                    continue
                self._on_message(raw)
            # The server closed. Normal only if we asked (CloseStream).
            return self._closing and ws.close_code in (1000, None)
        except ConnectionClosed as exc:
            if self._closing and exc.rcvd is not None and exc.rcvd.code == 1000:
                return True
            code = exc.rcvd.code if exc.rcvd is not None else "none"
            self.log.warning("socket closed (code %s)", code)
            return False
        finally:
            self._ws = None
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender
            if ws.close_code is None:
                with contextlib.suppress(Exception):
                    await ws.close()

    async def _sender(self, ws: ClientConnection) -> None:
        idle = 0.0
        keepalive = self.provider.keepalive_s
        try:
            while True:
                pending = self._buf_start + len(self._buf) - self._sent_end
                if pending > 0:
                    off = self._sent_end - self._buf_start
                    chunk = bytes(self._buf[off : off + SEND_CHUNK])
                    await ws.send(chunk)
                    self._sent_end += len(chunk)
                    idle = 0.0
                    continue
                if self._closing:
                    await ws.send(json.dumps({"type": "CloseStream"}))
                    try:
                        await asyncio.wait_for(ws.wait_closed(), self.provider.close_timeout_s)
                    except TimeoutError:
                        self.log.warning("no close from Deepgram after CloseStream; closing")
                        await ws.close()
                    return
                self._new_audio.clear()
                try:
                    await asyncio.wait_for(self._new_audio.wait(), max(0.05, keepalive - idle))
                except TimeoutError:
                    await ws.send(json.dumps({"type": "KeepAlive"}))
                    idle = 0.0
                    continue
        except ConnectionClosed:
            return  # the receiver sees the close and decides

    def _on_message(self, raw: str) -> None:
        try:
            msg: Any = json.loads(raw)
        except json.JSONDecodeError:
            self.log.warning("ignoring a non-JSON message (%d chars)", len(raw))
            return
        if not isinstance(msg, dict):
            return
        kind = msg.get("type")
        if kind == "Results":
            self._on_results(msg)
        elif kind == "UtteranceEnd":
            if self._open_finals:
                self._end_turn("UtteranceEnd")
        elif kind == "SpeechStarted":
            self.log.debug("speech started")
        elif kind == "Metadata":
            self.log.debug("metadata: request %s", str(msg.get("request_id", "?"))[:40])
        elif kind == "Error" or "err_code" in msg:
            self.errors += 1
            self.log.warning("Deepgram error: %s", str(msg.get("description") or msg.get("err_msg") or kind)[:200])

    def _on_results(self, msg: dict[str, Any]) -> None:
        try:
            alt = msg["channel"]["alternatives"][0]
            text = str(alt.get("transcript") or "").strip()
            confidence = float(alt.get("confidence") or 0.0)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            self.log.warning("ignoring a malformed Results message")
            return
        is_final = bool(msg.get("is_final"))
        speech_final = bool(msg.get("speech_final"))
        if is_final:
            try:
                end_s = float(msg.get("start", 0.0)) + float(msg.get("duration", 0.0))
            except (TypeError, ValueError):
                end_s = 0.0
            self._confirm(end_s)
            if self._turn is not None:
                self._finalised = True
                if text:
                    self._open_finals = True
                    self._turn_text = f"{self._turn_text} {text}".strip()
                    self._turn.transcript(self._turn_text)
                    self.finals += 1
                    self._out.put_nowait(Transcript(text, final=True, confidence=confidence, speech_final=False))
                self._check_turn()
            elif text or (speech_final and self._open_finals):
                self._open_finals = not speech_final
                self.finals += 1 if text else 0
                self._out.put_nowait(Transcript(text, final=True, confidence=confidence, speech_final=speech_final))
        elif text:
            self.interims += 1
            if self._turn is not None:
                self._finalised = False
                self._eager_sent = False
                self._turn.transcript(f"{self._turn_text} {text}".strip())
            self._out.put_nowait(Transcript(text, final=False, confidence=confidence, speech_final=False))

    def _check_turn(self) -> None:
        """Our decision on top of Deepgram's: once every word heard is final, is the pause the end?"""
        turn = self._turn
        if turn is None or not self._open_finals or not self._finalised:
            return
        decision = turn.decide()
        if decision.over:
            self._end_turn(f"{decision.silence_ms:.0f} ms of silence, p={decision.p_complete:.2f}")
        elif decision.state is TurnState.LIKELY and not self._eager_sent:
            self._eager_sent = True
            self._out.put_nowait(Transcript(self._turn_text, final=False, speech_final=False, eager=True))

    def _end_turn(self, why: str) -> None:
        self.log.debug("turn over (%s)", why)
        self._open_finals = False
        self._turn_text = ""
        self._eager_sent = False
        if self._turn is not None:
            self._turn.reset()
        self._out.put_nowait(Transcript("", final=True, speech_final=True))

    def _confirm(self, end_s: float) -> None:
        """Deepgram finalised this connection's audio up to `end_s`: forget it."""
        end = self._conn_base + int(end_s * self.sample_rate) * 2
        end = min(end, self._sent_end)
        drop = end - self._buf_start
        if drop > 0:
            del self._buf[:drop]
            self._buf_start = end


class _Closed(ProviderError):
    """Internal: the stream was closed while disconnected (not an error)."""
