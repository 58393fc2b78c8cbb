"""End to end: the real BotServer on the offline providers, called by `kconsole call` and
by the sandbox's Stream Node with every demo conversation.

eSpeak speaks the caller's lines, pocketsphinx hears them inside the bot, the scripted
responder answers, eSpeak speaks the answers back. The bot runs on a ScaledClock and
the caller at the same speed, so a minute of conversation takes seconds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from console.cli import main
from sandbox.conversations import BARGE_IN, DEMO_CONVERSATIONS
from sandbox.streamnode import StreamNode
from voice.clock import ScaledClock
from voice.config import BotSettings
from voice.server import BotServer

SPEED = 3.0  # six calls of real offline speech in one process: 6x starved the bot on a shared 2-core machine
TRANSFER_TO = "+919000000001"
PROVIDER_KEYS = ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "CARTESIA_VOICE_ID", "BOT_SCRIPT")


def offline_providers(settings: BotSettings) -> Any:
    """The factory's offline set; until the factory lands, the same trio by hand."""
    try:
        from voice.providers.factory import build_providers
    except ImportError:
        from voice.providers.local_stt import PocketsphinxSTT
        from voice.providers.local_tts import EspeakTTS
        from voice.providers.script import ScriptedLLM, load_script

        @dataclass
        class _Set:
            stt: Any
            llm: Any
            tts: Any
            fallback_tts: Any
            description: str

        script = load_script(None)
        return _Set(PocketsphinxSTT(script.vocabulary()), ScriptedLLM(script), EspeakTTS(), None, "offline")
    return build_providers(settings)


def make_bot() -> BotServer:
    settings = BotSettings(_env_file=None, bot_host="127.0.0.1", bot_port=0, transfer_number=TRANSFER_TO)  # type: ignore[call-arg]
    return BotServer(settings, providers=offline_providers(settings), clock=ScaledClock(SPEED))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in PROVIDER_KEYS:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
async def bot() -> AsyncIterator[BotServer]:
    server = make_bot()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def threaded_real_bot() -> Iterator[BotServer]:
    """The bot on its own loop in a thread, for the synchronous CLI main()."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = make_bot()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    yield server
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_kconsole_call_greeting_answer_transfer(threaded_real_bot: BotServer, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([
        "call", threaded_real_bot.url,
        "--say", "what are your opening hours",
        "--say", "I want to speak to a person",
        "--speed", str(SPEED), "--transcribe",
    ])
    out, err = capsys.readouterr()
    print(out)
    assert code == 0, err + out
    assert "greeting: first audio" in out
    assert 'you said: "what are your opening hours"' in out
    assert 'you said: "I want to speak to a person"' in out
    assert f"transfer -> {TRANSFER_TO}" in out
    assert out.rstrip().endswith(f"outcome: transferred to {TRANSFER_TO}")
    said = [line.lower() for line in out.splitlines() if "bot said:" in line]
    assert len(said) >= 2  # the greeting and the answer, transcribed
    assert any("monday" in line for line in said), said  # the answer was about opening hours
    assert "turn 1 stopped -> first audio" in out and "turn 2 stopped -> first audio" in out
    assert "killAudio" not in out  # the caller waited for each reply: no false barge-in


async def test_every_demo_conversation_against_the_real_bot(bot: BotServer) -> None:
    node = StreamNode(bot.url, speed=SPEED, bot_speed=SPEED, hangup_grace=0.3, max_concurrent=len(DEMO_CONVERSATIONS))
    reports = await asyncio.gather(*(
        node.place_call({"callid": f"demo-{c.name}", "customer_number": "+919811100000"}, c) for c in DEMO_CONVERSATIONS
    ))
    for conv, report in zip(DEMO_CONVERSATIONS, reports, strict=True):
        summary = f"{conv.name}: {report.describe_outcome()} {report.to_json()}"
        assert report.outcome == conv.expect, summary
        assert report.greeting_ms is not None and not report.protocol_errors, summary
        assert len(report.turns) == len(conv.turns), summary
        assert all(t.first_audio_ms is not None for t in report.turns), summary  # every line got an answer
        if conv.expect == "transferred":
            assert report.transfer_to == TRANSFER_TO
        if conv is BARGE_IN:
            assert report.kill_audio_count >= 2, summary
            assert all(t.barge_in and t.kill_audio_ms is not None for t in report.turns[:2]), summary
            assert report.replies[0].interrupted  # the greeting was cut
        else:
            assert report.kill_audio_count == 0, summary  # polite callers are never taken for barge-in
