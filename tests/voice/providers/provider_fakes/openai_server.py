"""A fake OpenAI API on loopback: chat completions (SSE), speech and transcriptions.

Chunks are byte-for-byte the shapes OpenAI streams (`chat.completion.chunk`, tool
call deltas split across chunks, `finish_reason`, `data: [DONE]`), so the real
`openai` client parses them. Behaviour per test:

- `reply` text and `tool_calls` [(name, json_args)] for the next completions;
- `mode`: "ok", "error500", "error401", "slow" (sleeps `slow_s` before answering),
  "cut" (drops the connection mid-stream);
- /v1/audio/speech streams 24 kHz pcm of a tone whose length follows the text;
- /v1/audio/transcriptions answers `transcripts` in order (multipart WAV checked).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from typing import Any

import numpy as np
from aiohttp import web


class FakeOpenAI:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.reply = "Hello there. How can I help?"
        self.tool_calls: list[tuple[str, str]] = []
        self.mode = "ok"
        self.slow_s = 5.0
        self.requests: list[dict[str, Any]] = []
        self.transcripts: list[str] = []
        self.uploads: list[tuple[int, int, int]] = []  # (rate, channels, frames) of each WAV
        self.speech_ms_per_char = 60
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}" or self.mode == "error401":
            return web.json_response(
                {"error": {"message": "Incorrect API key provided: sk-abc***xyz.", "type": "invalid_request_error",
                           "code": "invalid_api_key"}}, status=401)
        if self.mode == "error500":
            return web.json_response({"error": {"message": "The server had an error", "type": "server_error"}}, status=500)
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        denied = self._auth(request)
        if denied is not None:
            return denied
        if self.mode == "slow":
            await asyncio.sleep(self.slow_s)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", "?"), "system_fingerprint": "fp_fake"}

        async def send(delta: dict[str, Any], finish: str | None = None) -> None:
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        words = self.reply.split(" ") if self.reply else []
        for i, word in enumerate(words):
            await send({"content": word if i == 0 else " " + word})
            if self.mode == "cut" and i == 1:
                request.transport.close()  # type: ignore[union-attr]
                return resp
        for index, (name, args) in enumerate(self.tool_calls):
            await send({"tool_calls": [{"index": index, "id": f"call_{index}", "type": "function",
                                        "function": {"name": name, "arguments": ""}}]})
            for k in range(0, len(args), 3):  # arguments arrive a few characters at a time
                await send({"tool_calls": [{"index": index, "function": {"arguments": args[k:k + 3]}}]})
        await send({}, "tool_calls" if self.tool_calls else "stop")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        denied = self._auth(request)
        if denied is not None:
            return denied
        if body.get("response_format") != "pcm":
            return web.json_response({"error": {"message": "expected pcm"}}, status=400)
        if self.mode == "slow":
            await asyncio.sleep(self.slow_s)
        n = 24000 * self.speech_ms_per_char * len(body.get("input", "")) // 1000
        t = np.arange(n) / 24000
        pcm = (6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).tobytes()
        resp = web.StreamResponse(headers={"Content-Type": "audio/pcm"})
        await resp.prepare(request)
        for i in range(0, len(pcm), 4800):
            await resp.write(pcm[i:i + 4800])
            if self.mode == "cut" and i > 0:
                request.transport.close()  # type: ignore[union-attr]
                return resp
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    async def _transcribe(self, request: web.Request) -> web.Response:
        denied = self._auth(request)
        if denied is not None:
            return denied
        form = await request.post()
        self.requests.append({k: (v if isinstance(v, str) else "<file>") for k, v in form.items()})
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return web.json_response({"error": {"message": "file is required"}}, status=400)
        data = upload.file.read()
        try:
            with wave.open(io.BytesIO(data)) as wf:
                self.uploads.append((wf.getframerate(), wf.getnchannels(), wf.getnframes()))
        except (wave.Error, EOFError):
            return web.json_response({"error": {"message": "Invalid file format."}}, status=400)
        text = self.transcripts.pop(0) if self.transcripts else ""
        return web.json_response({"text": text})
