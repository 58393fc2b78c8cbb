"""A fake Deepgram live-transcription server (WebSocket, Deepgram's wire protocol).

It checks what the real service checks (the `Authorization: Token KEY` header, the
listen path and the query), then "recognises" audio the way a test can control: the
audio is cut into bursts of loud samples separated by silence, and each burst's
transcript comes either from its amplitude (`words`: amplitude 4000 -> "opening
hours") or from a `timeline` of (start s, end s, text) in the connection's audio time
(a corpus whose words are known to the sample: the text of every entry overlapping
the burst; the list is taken by the next connection, and may be added to as it runs). Endpointing follows the query, as Deepgram's does: a burst is finalised
(`is_final`, `speech_final`) after `endpointing` ms of silence, interim results come
every 200 ms of speech, and `UtteranceEnd` is sent once `utterance_end_ms` have
passed since the last finalised word with no new speech. Results carry
`start`/`duration` in this connection's own audio time, like Deepgram's, so a client
that replays audio after a reconnect is checked for real.

Controls: `drop_after_bytes` closes a connection with 1011 once it has received
that much audio (once); `drop_all()` closes every live socket with 1011; `reject`
makes the handshake fail with HTTP 401 regardless of the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

FRAME_MS = 20


@dataclass
class ConnectionLog:
    query: dict[str, str]
    authorization: str
    audio_bytes: int = 0
    keepalives: int = 0
    close_stream: bool = False
    texts: list[str] = field(default_factory=list)


class FakeDeepgram:
    def __init__(self, api_key: str, words: dict[int, str] | None = None, *, sample_rate: int = 16000,
                 timeline: list[tuple[float, float, str]] | None = None) -> None:
        self.api_key = api_key
        self.words = words or {}  # burst amplitude -> transcript
        self.timeline = timeline  # (start s, end s, text) of the next connection, instead of `words`
        self.sample_rate = sample_rate
        self.connections: list[ConnectionLog] = []
        self.drop_after_bytes: int | None = None
        self.reject = False
        self.send_first: list[str] = []  # raw messages each new connection gets before any result
        self._server: Server | None = None
        self.live: set[ServerConnection] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/listen"

    async def start(self) -> None:
        self._server = await serve(self._handler, "127.0.0.1", 0, process_request=self._check)
        self.port = self._server.sockets[0].getsockname()[1] if self._server.sockets else 0

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def drop_all(self, code: int = 1011) -> None:
        for ws in list(self.live):
            await ws.close(code, "NET-0001 fake drop")

    def _check(self, conn: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path != "/v1/listen":
            return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")
        if self.reject or request.headers.get("Authorization") != f"Token {self.api_key}":
            return Response(401, "Unauthorized", Headers({"Content-Type": "application/json"}),
                            b'{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials."}')
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if q.get("encoding") != "linear16" or q.get("channels") != "1" or not q.get("sample_rate", "").isdigit():
            return conn.respond(HTTPStatus.BAD_REQUEST, "bad audio format\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path)  # type: ignore[union-attr]
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        log = ConnectionLog(q, ws.request.headers.get("Authorization", ""))  # type: ignore[union-attr]
        self.connections.append(log)
        rate = int(q["sample_rate"])
        frame = rate * FRAME_MS // 1000 * 2
        endpointing = int(q.get("endpointing", "10")) if q.get("endpointing", "10").isdigit() else 10
        utterance_end_ms = int(q["utterance_end_ms"]) if q.get("utterance_end_ms", "").isdigit() else None
        silence_frames_to_end = max(1, -(-endpointing // FRAME_MS))
        timeline, self.timeline = self.timeline, None  # this connection's (its owner may add to it)
        last_word_end: int | None = None  # frame of the last finalised word, until UtteranceEnd
        buf = bytearray()
        pos = 0  # frames consumed
        burst_start: int | None = None
        burst_amp = 0
        quiet = 0
        self.live.add(ws)
        await ws.send(json.dumps({"type": "Metadata", "request_id": "fake-1", "sha256": "x", "channels": 1}))
        for raw in self.send_first:
            await ws.send(raw)
        try:
            async for msg in ws:
                if isinstance(msg, str):
                    log.texts.append(msg)
                    kind = json.loads(msg).get("type")
                    if kind == "KeepAlive":
                        log.keepalives += 1
                    elif kind == "CloseStream":
                        log.close_stream = True
                        if burst_start is not None:
                            await self._final(ws, burst_start, pos, burst_amp, timeline)
                            await self._utterance_end(ws, pos)
                        elif last_word_end is not None:
                            await self._utterance_end(ws, last_word_end)
                        await ws.close(1000)
                        return
                    continue
                log.audio_bytes += len(msg)
                buf += msg
                if self.drop_after_bytes is not None and log.audio_bytes >= self.drop_after_bytes:
                    self.drop_after_bytes = None
                    await ws.close(1011, "NET-0001 fake drop")
                    return
                while len(buf) >= frame:
                    chunk = np.frombuffer(bytes(buf[:frame]), dtype=np.int16)
                    del buf[:frame]
                    amp = int(np.max(np.abs(chunk))) if len(chunk) else 0
                    if amp > 300:
                        if burst_start is None:
                            burst_start = pos
                            burst_amp = amp
                            await ws.send(json.dumps({"type": "SpeechStarted", "channel": [0], "timestamp": pos * FRAME_MS / 1000}))
                        burst_amp = max(burst_amp, amp)
                        quiet = 0
                        last_word_end = None
                        if (pos - burst_start) % 10 == 5:
                            text = self._text(burst_start, pos, burst_amp, timeline, consume=False)
                            if text:
                                await ws.send(json.dumps(self._results(text, burst_start, pos, False, False)))
                    elif burst_start is not None:
                        quiet += 1
                        if quiet >= silence_frames_to_end:
                            last_word_end = pos - quiet + 1
                            await self._final(ws, burst_start, last_word_end, burst_amp, timeline)
                            burst_start = None
                            quiet = 0
                            if utterance_end_ms is None:
                                await self._utterance_end(ws, last_word_end)
                                last_word_end = None
                    elif last_word_end is not None and utterance_end_ms is not None:
                        if (pos - last_word_end) * FRAME_MS >= utterance_end_ms:
                            await self._utterance_end(ws, last_word_end)
                            last_word_end = None
                    pos += 1
        finally:
            self.live.discard(ws)

    def _text(self, start_f: int, end_f: int, amp: int, timeline: list[tuple[float, float, str]] | None,
              *, consume: bool) -> str:
        if timeline is None:
            if not self.words:
                return ""
            best = min(self.words, key=lambda a: abs(a - amp))
            return self.words[best]
        a, b = start_f * FRAME_MS / 1000 - 0.05, end_f * FRAME_MS / 1000 + 0.05
        hits = [item for item in timeline if item[0] < b and item[1] > a]
        if consume:
            for item in hits:
                timeline.remove(item)
        return " ".join(text for _, _, text in hits)

    def _results(self, text: str, start_f: int, end_f: int, is_final: bool, speech_final: bool) -> dict[str, Any]:
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": (end_f - start_f) * FRAME_MS / 1000,
            "start": start_f * FRAME_MS / 1000,
            "is_final": is_final,
            "speech_final": speech_final,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.98, "words": []}]},
            "metadata": {"request_id": "fake-1", "model_info": {"name": "2-general-nova"}},
            "from_finalize": False,
        }

    async def _final(self, ws: ServerConnection, start_f: int, end_f: int, amp: int,
                     timeline: list[tuple[float, float, str]] | None) -> None:
        text = self._text(start_f, end_f, amp, timeline, consume=True)
        await ws.send(json.dumps(self._results(text, start_f, end_f, True, True)))

    async def _utterance_end(self, ws: ServerConnection, last_word_end_f: int) -> None:
        await ws.send(json.dumps({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": last_word_end_f * FRAME_MS / 1000}))
