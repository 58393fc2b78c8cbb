"""`kconsole call` tells the truth: exit codes and "ok" for good, silent, unanswered and
protocol-error calls; each problem printed once; tokens masked, ordinary paths not; a 403
says a token may be needed; a kconsole bot's own words printed without --transcribe."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from console.cli import main
from voice.caller.urls import redact_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["call", *argv])
    out, err = capsys.readouterr()
    return code, out, err


FAST = ("--speed", "5", "--reply-timeout", "1.5")


def test_a_good_call_is_ok(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=300, actions=["tone:400", "disconnect"])
    code, out, err = run(capsys, bot.url, "--say", "hello", "--say", "bye", *FAST, "--json")
    report = json.loads(out)
    assert code == 0 and err == "" and report["ok"] is True and report["problems"] == []


def test_a_line_the_bot_never_answers_fails(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=300, actions=["silent"])
    code, out, err = run(capsys, bot.url, "--say", "hello there", *FAST)
    assert code == 1
    assert err.strip().splitlines() == ['kconsole call: turn 1 ("hello there") got no reply within 1.5 s']
    assert "outcome: completed (the caller hung up) - FAILED (1 problem, on stderr)" in out
    assert "no reply" not in out  # printed once, on stderr


def test_a_reply_of_pure_silence_fails(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=300, actions=["silence:800"])
    code, out, err = run(capsys, bot.url, "--say", "hello", *FAST, "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["outcome"] == "completed"
    [problem] = report["problems"]
    assert problem.startswith("the bot's reply at ") and "was silence (800 ms of audio with nothing in it)" in problem
    assert err.strip() == f"kconsole call: {problem}"


def test_a_silent_greeting_fails(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_chunks=[bytes(3200)] * 5)
    code, _, err = run(capsys, bot.url, *FAST)
    assert code == 1 and "the greeting was silence (500 ms" in err and err.count("\n") == 1


def test_protocol_errors_fail_the_call_and_each_is_printed_once(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=300, before_greeting=["not json", "not json", '{"type": "dance"}'],
                       actions=["disconnect"])
    code, out, err = run(capsys, bot.url, "--say", "hi", *FAST)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines == ["kconsole call: protocol error: bot sent a frame that is not JSON (2 times)",
                     "kconsole call: protocol error: unknown bot event type 'dance'"]
    assert "protocol error" not in out.split("timings")[0]  # not in the live log as well
    assert "outcome: disconnected by the bot - FAILED (2 problems, on stderr)" in out
    code, out, _ = run(capsys, bot.url, "--say", "hi", *FAST, "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_strict_ends_on_the_first_protocol_error_printed_once(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=300, before_greeting=["not json"])
    code, _, err = run(capsys, bot.url, "--say", "hi", *FAST, "--strict")
    assert code == 1
    assert err.strip().splitlines() == ["kconsole call: protocol error: bot sent a frame that is not JSON"]


def test_a_cut_call_is_printed_once(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(greet=False)
    code, out, err = run(capsys, bot.url, "--say", "hello", "--no-audio-timeout", "0.3")
    assert code == 1
    assert err.strip() == "kconsole call: cut: no playAudio within 0.3 s of connecting"
    assert "no playAudio" not in out


def test_redaction_masks_tokens_only() -> None:
    assert redact_url("ws://h:1/bots/acme/voice?lang=en") == "ws://h:1/bots/acme/voice?lang=en"
    assert redact_url("wss://h/api/v1/voice") == "wss://h/api/v1/voice"
    assert redact_url("ws://h/voice/Zx81kq") == "ws://h/voice/***"
    assert redact_url("ws://h/voice?token=abc&sample_rate=8000") == "ws://h/voice?token=***&sample_rate=8000"
    assert redact_url("ws://h/voice/plainword", ["plainword"]) == "ws://h/voice/***"  # a known token, any shape
    assert redact_url("ws://user:pw@h/voice") == "ws://h/voice"


@pytest.fixture
def real_bot(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A kconsole BotServer (fake providers) on its own loop, for the synchronous CLI."""
    from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS
    from voice.clock import MonotonicClock
    from voice.config import BotSettings
    from voice.server import BotServer

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def make(**settings: Any) -> BotServer:
        base = {"bot_host": "127.0.0.1", "bot_port": 0, "greeting": "Hello, this is Acme."} | settings
        prov = FakeProviders(stt=FakeSTT(["what are your hours"]), llm=FakeLLM([["We open at nine."]]),
                             tts=FakeTTS(ms_per_char=8))
        server = BotServer(BotSettings(_env_file=None, **base), providers=prov, clock=MonotonicClock())  # type: ignore[arg-type]
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        made.append(server)
        return server

    made: list[BotServer] = []
    yield make
    for server in made:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_a_kconsole_bots_words_are_printed_without_transcribe(real_bot, tone_voice, capsys) -> None:
    server = real_bot()
    code, out, err = run(capsys, server.url, "--say", "what are your hours", "--reply-timeout", "5")
    assert code == 0, err
    assert 'bot says: "Hello, this is Acme."' in out and 'bot says: "We open at nine."' in out
    assert 'bot heard: "what are your hours"' in out
    assert 'the bot said\n  "Hello, this is Acme."\n  "We open at nine."' in out


def test_a_403_says_a_token_may_be_required_and_token_works(real_bot, tone_voice, capsys) -> None:
    server = real_bot(bot_token="Tok-99-secret")
    code, out, err = run(capsys, server.url, "--reply-timeout", "3")
    assert code == 1 and "HTTP 403" in err and "may require a token (--token)" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, server.url, "--token", "Tok-99-secret", "--reply-timeout", "3")
    assert code == 0, err
    assert "Tok-99-secret" not in out + err
