"""The bench's bot launcher: one BotServer in its own process, driven over stdin/stdout.

    python -m bench.botproc --providers instant --lag-probe

Prints one JSON line `{"ready": true, "port": P, "pid": N}` once listening, then answers
commands, one per stdin line, with one JSON line each:

    stats   -> {"lag_ms": [...], "finals": [[call_id, t], ...], "sessions": n, "calls": n, ...}
    reset   -> clears the lag samples and the STT-final stamps
    quit    -> closes the server and exits

The event-loop lag probe is opt-in and lives here, not in product code: a task that sleeps
10 ms and records how late it woke up. Anything that blocks the bot's loop (a slow frame
handler, a synchronous TTS, a burst of sends) shows up as lag for every call at once.
Providers: `instant` (bench.instant; the level-based STT), `deaf` (instant, but the STT never
transcribes: the VAD-only barge-in path), `offline` (voice.providers.factory.build_providers
with no keys: eSpeak NG + pocketsphinx + the script).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import time
from typing import Any

from bench.instant import InstantProviders, InstantSTT
from voice.config import BotSettings
from voice.server import BotServer


class GcPauses:
    """Durations of the garbage collector's runs (a full collection stops the loop)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((int(info.get("generation", -1)), (time.perf_counter() - self._start) * 1000))


async def _lag_probe(samples: list[float], interval: float = 0.010) -> None:
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(interval)
        samples.append(max(0.0, (loop.time() - t - interval) * 1000))


def _providers(kind: str, settings: BotSettings) -> Any:
    if kind == "instant":
        return InstantProviders()
    if kind == "deaf":
        return InstantProviders(stt=InstantSTT(deaf=True))
    if kind == "deepgram":  # Deepgram (a loopback fake the bench runs) + the offline script and voice
        from voice.providers.factory import build_providers

        return build_providers(settings)
    if kind == "offline":
        try:
            from voice.providers.factory import build_providers
        except ImportError:  # the factory is not there yet: the same offline trio by hand
            from voice.providers.local_stt import PocketsphinxSTT
            from voice.providers.local_tts import EspeakTTS
            from voice.providers.script import ScriptedLLM, load_script

            script = load_script(None)
            return InstantProviders(stt=PocketsphinxSTT(script.vocabulary()), llm=ScriptedLLM(script),  # type: ignore[arg-type]
                                    tts=EspeakTTS(),  # type: ignore[arg-type]  # real providers in the instant set's slots
                                    description="pocketsphinx + script + eSpeak NG (by hand)")
        return build_providers(settings)
    raise SystemExit(f"unknown providers {kind!r}")


async def serve(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {"bot_host": "127.0.0.1", "bot_port": args.port, "bot_sample_rate": args.rate}
    if args.greeting:
        overrides["greeting"] = args.greeting
    overrides["turn_detection"] = args.turn
    if args.script:
        overrides["bot_script"] = args.script
    if args.providers == "deepgram":
        overrides.update(stt_provider="deepgram", llm_provider="script", tts_provider="local",
                         deepgram_api_key="bench-key", deepgram_url=args.deepgram_url)
    settings = BotSettings(**overrides)
    providers = _providers(args.providers, settings)
    if args.idle_decoder_s is not None and hasattr(getattr(providers, "stt", None), "idle_decoder_s"):
        providers.stt.idle_decoder_s = args.idle_decoder_s  # the memory figure's "after" comes sooner
    if os.environ.get("BENCH_TRACEMALLOC"):  # diagnosis: Python-heap figures in `stats`
        import tracemalloc

        tracemalloc.start()
    options = None
    if args.no_echo_cancel:  # diagnosis: what the per-call echo canceller costs (memory, CPU)
        from voice.session_options import SessionOptions

        options = SessionOptions(echo_cancel=False)
    server = BotServer(settings, providers=providers, reuse_port=bool(args.bus), options=options)
    await server.start()
    publisher = None
    if args.bus:  # a fleet worker: the product's publisher, exactly as `kconsole bot --bus` runs it
        from voice.fleet.publisher import FleetPublisher

        publisher = FleetPublisher(server, args.bus, worker_id=args.worker_id or None)
        await publisher.start()
    if os.environ.get("BENCH_GC_FREEZE"):  # experiment: keep start-up objects out of every collection
        gc.freeze()
    lag: list[float] = []
    probe = asyncio.create_task(_lag_probe(lag)) if args.lag_probe else None
    profile_to = os.environ.get("BENCH_PROFILE")  # diagnosis: cProfile the window reset..stats
    profiler = None
    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    if os.environ.get("BENCH_SLOW_CALLBACKS"):  # diagnosis: log every callback that blocks the loop
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = float(os.environ["BENCH_SLOW_CALLBACKS"])
    print(json.dumps({"ready": True, "port": server.port, "pid": os.getpid()}), flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            cmd = line.decode().strip()
            if cmd == "stats":
                if profiler is not None and profile_to:
                    profiler.disable()
                    profiler.dump_stats(profile_to)
                    profiler = None
                stt = getattr(providers, "stt", None)
                print(json.dumps({
                    "lag_ms": [round(v, 3) for v in lag],
                    "gc_ms": [[g, round(ms, 3)] for g, ms in gc_pauses.pauses],
                    "finals": list(getattr(stt, "finals", [])),
                    "sessions": len(server.sessions),
                    # audio frames the live calls have handled: CPU time per frame, whatever the load
                    "audio_frames": sum(session.audio_frames for session in server.sessions.values()),
                    "calls": server.stats.calls,
                    "greeting_ms": list(server.stats.greeting.values),
                    "barge_in_ms": list(server.stats.barge_in.values),
                    "first_audio_ms": list(server.stats.first_audio.values),
                    "total_ms": list(server.stats.total.values),
                    **_heap_stats(providers),
                    "bus_dropped": publisher.dropped if publisher is not None else 0,
                    "bus_published": publisher.published if publisher is not None else 0,
                }), flush=True)
            elif cmd == "reset":
                lag.clear()
                gc_pauses.pauses.clear()
                if profile_to:
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
                if hasattr(getattr(providers, "stt", None), "finals"):
                    providers.stt.finals.clear()
                print(json.dumps({"ok": True}), flush=True)
            elif cmd == "quit":
                break
    finally:
        if probe is not None:
            probe.cancel()
        await server.close()
        if publisher is not None:
            await publisher.close()


def _heap_stats(providers: Any) -> dict[str, Any]:
    """Python-heap figures when tracemalloc runs, and the recogniser's decoder pool."""
    out: dict[str, Any] = {}
    import tracemalloc

    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        out["py_heap"] = current
        out["py_heap_peak"] = peak
        tracemalloc.reset_peak()
    pool = getattr(getattr(providers, "stt", None), "_pool", None)
    if pool is not None:
        out["decoders"] = {k: getattr(pool, k, None) for k in ("created", "live", "leased", "peak")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.botproc")
    parser.add_argument("--providers", choices=("instant", "deaf", "offline", "deepgram"), default="instant")
    parser.add_argument("--turn", choices=("adaptive", "fixed"), default="adaptive", help="TURN_DETECTION")
    parser.add_argument("--script", default="", help="BOT_SCRIPT")
    parser.add_argument("--deepgram-url", default="", help="with --providers deepgram: the fake's ws:// URL")
    parser.add_argument("--greeting", default="")
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--lag-probe", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bus", default="", help="publish to this Redis as a fleet worker (SO_REUSEPORT on --port)")
    parser.add_argument("--worker-id", default="")
    parser.add_argument("--log", default="", help="write the bot's INFO log here (default: WARNING to stderr)")
    parser.add_argument("--idle-decoder-s", type=float, default=None, help="free idle offline decoders after this")
    parser.add_argument("--no-echo-cancel", action="store_true", help="calls without the uplink's echo canceller")
    args = parser.parse_args()
    if args.log:
        logging.basicConfig(filename=args.log, level=logging.INFO, format="%(asctime)s %(message)s")
    else:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
