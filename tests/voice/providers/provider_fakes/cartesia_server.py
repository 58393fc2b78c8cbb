"""A fake Cartesia /tts/sse on loopback: checks the key, version and body, streams pcm.

Modes: "ok"; "http401" (wrong key is also 401); "http400"; "error_event" (an error
event after one chunk); "cut" (connection dropped after one chunk); "slow".
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
from aiohttp import web


class FakeCartesia:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.mode = "ok"
        self.ms_per_char = 40
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/tts/sse", self._sse)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        if request.headers.get("X-API-Key") != self.api_key or self.mode == "http401":
            return web.json_response({"error": "Invalid API key"}, status=401)
        if not request.headers.get("Cartesia-Version"):
            return web.json_response({"error": "Cartesia-Version header is required"}, status=400)
        fmt = body.get("output_format", {})
        if self.mode == "http400" or fmt.get("container") != "raw" or fmt.get("encoding") != "pcm_s16le":
            return web.json_response({"error": "invalid output_format"}, status=400)
        if self.mode == "slow":
            await asyncio.sleep(3)
        rate = int(fmt["sample_rate"])
        n = rate * self.ms_per_char * len(body["transcript"]) // 1000
        t = np.arange(n) / rate
        pcm = (5000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16).tobytes()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        step = rate // 10 * 2 + 1  # odd sizes: a chunk may split a sample
        for i, off in enumerate(range(0, len(pcm), step)):
            data = {"type": "chunk", "data": base64.b64encode(pcm[off:off + step]).decode(), "done": False,
                    "status_code": 206, "step_time": 12.5, "context_id": "ctx-1"}
            await resp.write(f"event: chunk\ndata: {json.dumps(data)}\n\n".encode())
            if i == 0 and self.mode == "error_event":
                err = {"type": "error", "error": "voice not found", "status_code": 404, "done": True}
                await resp.write(f"event: error\ndata: {json.dumps(err)}\n\n".encode())
                return resp
            if i == 0 and self.mode == "cut":
                request.transport.close()  # type: ignore[union-attr]
                return resp
        done = {"type": "done", "done": True, "status_code": 200, "context_id": "ctx-1"}
        await resp.write(f"event: done\ndata: {json.dumps(done)}\n\n".encode())
        await resp.write_eof()
        return resp
