"""`kconsole call --line` over real sockets while the caller's event loop is starved: the
line keeps its own sample clock, so the echo it puts on the uplink stays at one delay
across replies (before, each 250 ms stall restarted the caller's frame schedule and moved
the echo by the stall: the bot measured 150, then 375 ms, and interrupted itself).

The bot (real echo canceller, VAD and eSpeak; fake recogniser and LLM) runs on its own
event loop in a thread, as it does in its own process. The caller's loop is held for
3-10 ms every 20-60 ms, and for 250 ms every couple of seconds, as a busy machine's
scheduler does to a process. A playAudio that arrives while the caller's loop is held is
still seen late by the hold (as a network's jitter would delay it), so the delay may move
by a few ms; never by a stall. Bounded: one call of about 15 s."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
import time
from collections.abc import Iterator

import pytest

from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT
from tests.voice.core.harness import make_settings
from voice.caller import Caller, Conversation, Turn
from voice.caller.playback import MAX_BEHIND_S, Voice, send_frames
from voice.clock import MonotonicClock
from voice.line import parse_line_spec
from voice.providers.local_tts import EspeakTTS
from voice.server import BotServer
from voice.session import SessionOptions

LINE = "echo=-20dB@150ms,codec=ulaw,noise=-50dBFS,jitter=60ms"
GREETING = "Hello and thank you for calling Acme. How can I help you today?"
REPLY = ("We are open from nine in the morning to six in the evening, ", "Monday to Saturday, and closed on Sundays.")


@pytest.fixture
def bot_url() -> Iterator[str]:
    """A bot on its own loop in a thread; its URL."""
    ready: list[str] = []
    started, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        server = BotServer(
            make_settings(greeting=GREETING),
            providers=FakeProviders(stt=FakeSTT(default_text="what are your opening hours"),
                                    llm=FakeLLM(default=REPLY), tts=EspeakTTS()),
            clock=MonotonicClock(), options=SessionOptions(),
        )
        await server.start()
        ready.append(server.url)
        started.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30), "the bot did not start"
    yield ready[0]
    stop.set()
    thread.join(10)


async def _starve(seed: int) -> None:
    """Hold this event loop now and then (time.sleep lets the bot's thread run meanwhile)."""
    rng = random.Random(seed)
    big_at = time.monotonic() + 1.0
    while True:
        await asyncio.sleep(rng.uniform(0.02, 0.06))
        if time.monotonic() >= big_at:
            big_at = time.monotonic() + rng.uniform(1.5, 3.0)
            time.sleep(0.25)  # noqa: ASYNC251 - the starvation under test
        else:
            time.sleep(rng.uniform(0.003, 0.010))  # noqa: ASYNC251


async def test_a_starved_callers_line_keeps_the_echo_where_it_was(bot_url, caplog) -> None:
    caplog.set_level(logging.INFO, logger="voice")
    caller = Caller(bot_url, line=parse_line_spec(LINE), tts=EspeakTTS(pitch=80), hangup_grace=0.2)
    lines = Conversation("hours", (Turn(say="what are your opening hours"), Turn(say="and on sunday")))
    starve = asyncio.create_task(_starve(3))
    try:
        report = await asyncio.wait_for(caller.run(lines), 60)
    finally:
        starve.cancel()
    delays = [int(d) for d in re.findall(r"echo of the bot's audio on the line: (\d+) ms late", caplog.text)]
    assert report.ok, report.describe_outcome()
    assert len(report.replies) == 3  # the greeting and two answers
    assert delays, "the bot found the echo"
    assert max(delays) - min(delays) <= 25, delays  # one line, one delay: no stall moves it (before: 220+ ms)


class _Socket:
    def __init__(self) -> None:
        self.sent: list[float] = []

    async def send(self, data: bytes) -> None:
        self.sent.append(time.monotonic())


async def test_the_frame_clock_catches_up_after_a_stall_and_never_slips() -> None:
    """Frame k always holds call time up to k x 20 ms: a stall is followed by its frames back
    to back; a stall longer than MAX_BEHIND_S loses the oldest (still through the line)."""
    ws, dues = _Socket(), []

    def line(frame: bytes, due: float, now: float) -> list[bytes]:
        dues.append(due)
        return [frame]

    t0 = time.monotonic()
    sender = asyncio.create_task(send_frames(ws, Voice(640), 1.0, lambda: 0.0, line, origin=t0))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    time.sleep(0.3)  # noqa: ASYNC251 - a stall the schedule catches up
    await asyncio.sleep(0.3)
    sent_before_long = len(ws.sent)
    time.sleep(MAX_BEHIND_S + 0.3)  # noqa: ASYNC251 - a stall beyond catching up
    await asyncio.sleep(0.2)
    sender.cancel()
    elapsed = time.monotonic() - t0
    assert dues == pytest.approx([0.02 * (k + 1) for k in range(len(dues))])  # no frame skipped, no restart
    assert abs(len(dues) - elapsed / 0.02) <= 5
    caught_up = sent_before_long
    assert abs(caught_up - 0.8 / 0.02) <= 5  # the first stall's frames all went out
    lost = len(dues) - len(ws.sent)
    assert 0.2 / 0.02 <= lost <= 0.4 / 0.02
