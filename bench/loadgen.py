"""The capacity benchmark's callers: N Stream Node calls from one separate process.

    python -m bench.loadgen --url ws://127.0.0.1:P/voice --calls 200 --seconds 10

Each call sends its metadata, then streams 16 kHz PCM in real time, 20 ms frames, for the
whole run: a 6 s cycle of line hiss with one 1.2 s utterance in it (its own phase per call),
so the bot runs VAD and STT on every frame and answers a turn every cycle. One ticker sends
every call's due frame each 20 ms (400 sleeping tasks would cost this process more than the
bot); one reader per call stamps the first playAudio and counts kills and closes without
decoding any audio.

Output, one JSON line each: `{"phase": "connected", ...}` once every call is connected and
greeted (the parent starts measuring the bot then), and `{"phase": "done", ...}` at the end.
The generator reports its own tick lag: if it falls behind, the figure says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.corpus import RATE, silence_s, speech_clip, with_line_noise
from bench.report import percentile
from voice.protocol import CallMetadata, encode_metadata

FRAME_BYTES = RATE * 2 * 20 // 1000
CYCLE_S = 6.0


@dataclass
class Call:
    index: int
    phase_frames: int
    ws: ClientConnection | None = None
    metadata_at: float = 0.0
    greeted_at: float | None = None
    plays: int = 0
    kills: int = 0
    closed: bool = False
    close_code: int | None = None
    error: str | None = None
    frame: int = 0
    reader: asyncio.Task[None] | None = field(default=None, repr=False)


def cycle_audio() -> bytes:
    """6 s: 2.6 s hiss, a 1.2 s utterance, 2.2 s hiss (the bot answers in the gap)."""
    pcm = silence_s(RATE, 2.6) + speech_clip(RATE, seconds=1.2, seed=4).pcm + silence_s(RATE, 2.2)
    return with_line_noise(pcm, RATE)


async def _read(call: Call) -> None:
    assert call.ws is not None
    try:
        async for msg in call.ws:
            if isinstance(msg, str):
                head = msg[:40]
                if "playAudio" in head:
                    call.plays += 1
                    if call.greeted_at is None:
                        call.greeted_at = time.monotonic()
                elif "killAudio" in head:
                    call.kills += 1
    except ConnectionClosed:
        pass
    finally:
        call.closed = True
        call.close_code = call.ws.close_code


async def _open(url: str, call: Call) -> None:
    try:
        call.ws = await connect(url, compression=None, max_size=2**22, open_timeout=30, ping_interval=None)
        call.reader = asyncio.create_task(_read(call))
        meta = CallMetadata(callid=f"load-{call.index:04d}", virtual_number="+918000000000",
                            customer_number=f"+9198{call.index:08d}")
        call.metadata_at = time.monotonic()
        await call.ws.send(encode_metadata(meta))
    except (OSError, TimeoutError, ConnectionClosed) as exc:
        call.error = f"{type(exc).__name__}: {exc}"
        call.closed = True


SLOTS = 10  # a 20 ms frame period cut in 2 ms slots; each call sends in its own slot


async def _ticker(calls: list[Call], audio: bytes, stop: asyncio.Event, lag: list[float]) -> None:
    """Every 2 ms, send the due frame of the calls in that slot.

    Real calls are not phase-aligned: their frames arrive spread over the 20 ms period. A
    ticker that sent every call's frame at the same instant would hand the bot one burst of
    N frames per period, and measure the burst, not the load."""
    frames = len(audio) // FRAME_BYTES
    slots = [[c for c in calls if c.index % SLOTS == s] for s in range(SLOTS)]
    t0 = time.monotonic()
    k = 0
    while not stop.is_set():
        k += 1
        due = t0 + k * 0.020 / SLOTS
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.002:
            lag.append(-delay * 1000)
            if delay < -0.020:  # this process fell behind: re-anchor, never burst to catch up
                t0 -= delay
        for call in slots[k % SLOTS]:
            ws = call.ws
            if ws is None or call.closed or call.greeted_at is None:
                continue
            i = (call.phase_frames + call.frame) % frames
            call.frame += 1
            try:
                await ws.send(audio[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
            except ConnectionClosed:
                call.closed = True


async def run(url: str, n: int, seconds: float, ramp_s: float) -> None:
    audio = cycle_audio()
    frames = len(audio) // FRAME_BYTES
    rng = random.Random(7)
    calls = [Call(i, rng.randrange(frames)) for i in range(n)]
    stop = asyncio.Event()
    lag: list[float] = []
    ticker = asyncio.create_task(_ticker(calls, audio, stop, lag))
    started = time.monotonic()
    batch = 25
    for i in range(0, n, batch):  # a ramp: calls arrive over ramp_s, not all in one instant
        await asyncio.gather(*(_open(url, c) for c in calls[i : i + batch]))
        await asyncio.sleep(ramp_s * batch / n)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(c.greeted_at is None and not c.closed for c in calls):
        await asyncio.sleep(0.05)
    greet_ms = [(c.greeted_at - c.metadata_at) * 1000 for c in calls if c.greeted_at is not None]
    print(json.dumps({"phase": "connected", "connect_s": round(time.monotonic() - started, 2),
                      "greeted": len(greet_ms)}), flush=True)
    lag.clear()
    measure_start = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - measure_start
    result = {
        "phase": "done",
        "calls": n,
        "seconds": round(elapsed, 2),
        "greeted": len(greet_ms),
        "greet_ms": [round(v, 2) for v in greet_ms],
        "dropped": sum(1 for c in calls if c.closed or c.greeted_at is None),
        "errors": sorted({c.error for c in calls if c.error})[:5],
        "close_codes": sorted({c.close_code for c in calls if c.closed and c.close_code is not None}),
        "plays": sum(c.plays for c in calls),
        "kills": sum(c.kills for c in calls),
        "frames_sent": sum(c.frame for c in calls),
        "gen_lag_p99_ms": round(percentile(lag, 99), 2) if lag else 0.0,
        "gen_late_ticks": len(lag),
    }
    stop.set()
    await ticker
    print(json.dumps(result), flush=True)
    await asyncio.gather(*(c.ws.close() for c in calls if c.ws is not None), return_exceptions=True)
    await asyncio.gather(*(c.reader for c in calls if c.reader is not None), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which the calls arrive")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.calls, args.seconds, args.ramp))


if __name__ == "__main__":
    main()
