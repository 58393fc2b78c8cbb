"""Running the pieces a figure measures: the bot in a child process, and a lean caller.

`BotProcess` starts `python -m bench.botproc` and talks to it over its stdin/stdout; its
CPU time and memory are read from /proc. `Caller` is a minimal Stream Node on the wire
(voice.protocol + websockets): metadata, caller PCM in real time in 20 ms frames anchored
to a start instant, and a receive loop stamping every bot event with time.monotonic().
It does no work beyond that, so what it measures is the bot, not the caller.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import sysinfo
from voice.protocol import CallMetadata, encode_metadata

ROOT = Path(__file__).resolve().parent.parent
FRAME_MS = 20


class BotProcess:
    """`async with BotProcess(providers="instant", lag_probe=True) as bot: bot.url ...`"""

    def __init__(self, *, providers: str = "instant", greeting: str = "", rate: int = 16000,
                 lag_probe: bool = False, log: str = "", extra: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, stderr: str = "", port: int = 0, bus: str = "",
                 worker_id: str = "") -> None:
        self.args = ["--providers", providers, "--rate", str(rate), "--port", str(port), *extra]
        if bus:
            self.args += ["--bus", bus, "--worker-id", worker_id]
        self.env = env or {}
        self.stderr_path = stderr
        if greeting:
            self.args += ["--greeting", greeting]
        if lag_probe:
            self.args.append("--lag-probe")
        if log:
            self.args += ["--log", log]
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0
        self.pid = 0

    async def __aenter__(self) -> BotProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        for key in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "BOT_TOKEN", "MONITOR_TOKEN"):
            env.pop(key, None)  # offline and open on loopback, whatever the shell has
        env.update(self.env)
        err = open(self.stderr_path, "wb") if self.stderr_path else None
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.botproc", *self.args, cwd="/tmp", env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err, limit=64 * 1024 * 1024,
            )
        finally:
            if err is not None:
                err.close()
        line = await asyncio.wait_for(self._readline(), 120)
        ready = json.loads(line)
        self.port, self.pid = int(ready["port"]), int(ready["pid"])
        return self

    async def _readline(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench bot exited (code {await self.proc.wait()})")
        return line.decode()

    async def command(self, cmd: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        await self.proc.stdin.drain()
        return json.loads(await asyncio.wait_for(self._readline(), 60))

    async def stats(self) -> dict[str, Any]:
        return await self.command("stats")

    async def reset(self) -> None:
        await self.command("reset")

    def cpu_seconds(self) -> float:
        return sysinfo.cpu_seconds(self.pid)

    def rss(self) -> int:
        return sysinfo.rss_bytes(self.pid)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/voice"

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(b"quit\n")
            await proc.stdin.drain()
            await asyncio.wait_for(proc.wait(), 20)
        except (TimeoutError, ConnectionError, BrokenPipeError):
            proc.kill()
            await proc.wait()


@dataclass
class Received:
    kind: str
    at: float
    audio_s: float = 0.0  # playAudio: seconds of audio it carries


@dataclass
class Caller:
    """One call on the wire. `events` holds every bot event with its monotonic arrival time."""

    url: str
    rate: int = 16000
    callid: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:12]}")
    events: list[Received] = field(default_factory=list)
    closed_at: float | None = None
    close_code: int | None = None
    metadata_at: float = 0.0
    ws: ClientConnection | None = None
    _reader: asyncio.Task[None] | None = None
    _new: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self) -> None:
        self.ws = await connect(self.url, compression=None, max_size=2**22, open_timeout=30)
        self._reader = asyncio.create_task(self._read())

    async def send_metadata(self) -> float:
        assert self.ws is not None
        meta = CallMetadata(callid=self.callid, virtual_number="+918000000000", customer_number="+919800000000")
        frame = encode_metadata(meta)
        self.metadata_at = time.monotonic()
        await self.ws.send(frame)
        return self.metadata_at

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for msg in self.ws:
                now = time.monotonic()
                if isinstance(msg, str):
                    kind = _kind(msg)
                    audio_s = _audio_seconds(msg, self.rate) if kind == "playAudio" else 0.0
                    self.events.append(Received(kind, now, audio_s))
                    self._new.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed_at = time.monotonic()
            self.close_code = self.ws.close_code
            self._new.set()

    def playback_end(self) -> float:
        """When the caller's speaker finishes what the bot sent (played back to back; a
        killAudio empties the queue), as the Stream Node plays it."""
        end = -1e18
        for ev in self.events:
            if ev.kind == "playAudio":
                end = max(end, ev.at) + ev.audio_s
            elif ev.kind == "killAudio":
                end = ev.at
        return end

    def first(self, kind: str, after: float = -1e18) -> float | None:
        for ev in self.events:
            if ev.kind == kind and ev.at >= after:
                return ev.at
        return None

    def count(self, kind: str, after: float = -1e18, before: float = 1e18) -> int:
        return sum(1 for ev in self.events if ev.kind == kind and after <= ev.at <= before)

    async def wait_for(self, kind: str, after: float = -1e18, timeout: float = 10.0) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            at = self.first(kind, after)
            if at is not None:
                return at
            if self.closed_at is not None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except TimeoutError:
                return None

    async def stream(self, pcm: bytes, *, start: float | None = None) -> float:
        """Send `pcm` in real time, 20 ms frames, each when its last sample has been 'spoken'.

        Returns the instant the audio's first sample was spoken (the timeline's origin)."""
        assert self.ws is not None
        fb = self.rate * 2 * FRAME_MS // 1000
        t0 = time.monotonic() if start is None else start
        for k, off in enumerate(range(0, len(pcm), fb)):
            due = t0 + (k + 1) * FRAME_MS / 1000
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = pcm[off : off + fb]
            if len(frame) % 2:
                frame = frame[:-1]
            try:
                await self.ws.send(frame)
            except ConnectionClosed:
                break
        return t0

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _audio_seconds(msg: str, rate: int) -> float:
    """Length of a playAudio's audio from the size of its base64 WAV, without decoding it."""
    start = msg.find('"audioContent": "')
    if start < 0:
        return 0.0
    start += len('"audioContent": "')
    end = msg.find('"', start)
    b64 = end - start
    padding = msg.count("=", max(start, end - 2), end)
    wav_bytes = b64 * 3 // 4 - padding
    return max(0, wav_bytes - 44) / 2 / rate


def _kind(msg: str) -> str:
    """The event type without decoding a playAudio's base64 payload."""
    head = msg[:40]
    for kind in ("playAudio", "killAudio", "transfer", "disconnect"):
        if kind in head:
            return kind
    try:
        return str(json.loads(msg).get("type"))
    except (ValueError, AttributeError):
        return "?"
