"""The bot's providers fail under a live call, as a caller meets it.

Real loopback sockets end to end: the Stream Node emulator (voice.caller) calls a BotServer
whose speech recognition is the real Deepgram adapter talking to a fake Deepgram server
(the vendor's wire protocol, tests/voice/providers/provider_fakes). The bot core's own tests cover each fault with fake providers
on a fake clock; here the whole chain runs, and the test says what the caller heard.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from tests.faults.faults_support import (
    Providers,
    RecordingLLM,
    SlowTTS,
    ToneTTS,
    bot_settings,
    eventually,
    open_fds,
)
from voice.bus import CallEnded
from voice.caller import Caller, CallerEvent, Turn
from voice.clock import ScaledClock
from voice.providers.deepgram import DeepgramSTT
from voice.server import BotServer
from voice.session import SessionOptions

RATE = 16000
SPEED = 5.0  # caller and bot clock both run 5x real time; the STT counts audio, not seconds
KEY = "dg-fault-suite-key"
WORDS = {4000: "opening hours", 8000: "speak to a person", 12000: "what are your prices"}
OPTIONS = SessionOptions(stall_timeout_s=4.0, resume_after_s=1.0, lead_ms=400, utterance_gap_s=0.3, close_grace_s=0.5)


def burst(amp: int, ms: int) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.int16).tobytes()


async def start_bot(stt: Any, llm: Any, tts: Any) -> BotServer:
    server = BotServer(bot_settings(greeting="Hello."), providers=Providers(stt=stt, llm=llm, tts=tts),
                       clock=ScaledClock(SPEED), options=OPTIONS)
    await server.start()
    return server


async def test_stt_socket_drop_mid_utterance_reconnects_and_nothing_said_is_lost() -> None:
    from tests.voice.providers.provider_fakes.deepgram_server import FakeDeepgram

    deepgram = FakeDeepgram(KEY, WORDS)
    await deepgram.start()
    llm = RecordingLLM()
    server = await start_bot(DeepgramSTT(KEY, url=deepgram.url, backoff_s=0.02), llm, ToneTTS(ms_per_char=15))
    ended: list[CallEnded] = []
    sub = server.bus.subscribe()

    async def watch_bus() -> None:
        while True:
            event = await sub.get()
            if isinstance(event, CallEnded):
                ended.append(event)

    bus_task = asyncio.create_task(watch_bus())
    drops: list[asyncio.Task[None]] = []

    def on_event(event: CallerEvent) -> None:
        # Deepgram's socket dies (1011, as Deepgram does) 100 ms after the second line ends,
        # before its endpoint: that line is spoken but not yet transcribed, and only a
        # reconnect that replays the unconfirmed audio can still hear it.
        if event.kind == "caller_said" and event.turn == 1:
            async def drop() -> None:
                await asyncio.sleep(0.7 / SPEED)
                await deepgram.drop_all(1011)
            drops.append(asyncio.create_task(drop()))

    try:
        turns = [Turn(audio=burst(4000, 500), label="opening hours"),
                 Turn(audio=burst(8000, 600), label="a person"),
                 Turn(audio=burst(12000, 500), label="prices")]
        report = await Caller(server.url, speed=SPEED, bot_speed=SPEED, quiet_gap_ms=300, reply_timeout=6,
                              on_event=on_event, tts=ToneTTS()).run(turns)
        await asyncio.gather(*drops)
        assert report.outcome == "completed", report.describe_outcome()
        assert len(deepgram.connections) == 2, "the adapter reconnected once, inside the same call"
        assert deepgram.connections[1].audio_bytes > 0
        # every line was understood: the one cut in half by the drop, and the one after it
        assert llm.heard == ["opening hours", "speak to a person", "what are your prices"]
        assert all(t.first_audio_ms is not None for t in report.turns), "each line got a spoken answer"
        await eventually(lambda: bool(ended), what="the call's end on the bus")
        assert ended[0].reason == "caller hung up" and server.stats.calls == 1
    finally:
        bus_task.cancel()
        sub.close()
        await server.close()
        await deepgram.close()


async def test_caller_vanishing_mid_reply_cancels_every_provider_task_and_socket() -> None:
    from tests.voice.providers.provider_fakes.deepgram_server import FakeDeepgram

    deepgram = FakeDeepgram(KEY, WORDS)
    await deepgram.start()
    llm = RecordingLLM(slow=40, gap=0.05)
    tts = SlowTTS(piece_delay=0.01, ms_per_char=40)
    server = await start_bot(DeepgramSTT(KEY, url=deepgram.url, backoff_s=0.02), llm, tts)
    try:
        await asyncio.sleep(0.05)
        tasks_before, fds_before = len(asyncio.all_tasks()), open_fds()
        caller = Caller(server.url, speed=SPEED, bot_speed=SPEED, quiet_gap_ms=300, tts=ToneTTS())
        call = asyncio.create_task(caller.run([Turn(audio=burst(4000, 500), label="opening hours", wait=30.0)]))
        await eventually(lambda: llm.active > 0 and tts.active > 0 and len(deepgram.live) == 1, timeout=8,
                         what="a reply in flight")
        session = next(iter(server.sessions.values()))
        assert caller.vanish()  # the caller vanishes: no close frame, no goodbye
        await eventually(lambda: not server.sessions, what="the session to end")
        await eventually(lambda: len(deepgram.live) == 0, what="the Deepgram socket to close")
        await eventually(lambda: llm.active == 0 and tts.active == 0, what="LLM and TTS streams to stop")
        await asyncio.wait_for(call, 10)
        await eventually(lambda: len(asyncio.all_tasks()) <= tasks_before, what="no task left behind")
        await eventually(lambda: open_fds() <= fds_before, what="no socket left open")
        assert session.closed and session.active_tasks == 0
        assert llm.cancelled == 1
        assert deepgram.connections[0].close_stream or deepgram.connections[0].audio_bytes > 0
    finally:
        await server.close()
        await deepgram.close()
