"""The bot's log in the guide's format: `TIMESTAMP [call_id=X] [COMPONENT] message`.

Every line that concerns a call carries its call id and component (refusals too, with
`call_id=-` and the route this bot serves); each stream ends with a summary line;
`--log-json` writes the same as one JSON object per line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS, voiced
from voice.logs import CallLog, JsonLogFormatter

GUIDE = re.compile(r"^\[call_id=[^\]]+\] \[(KNOWLARITY|DEEPGRAM|OPENAI|CARTESIA|BOT|VAD|MONITOR|SERVER|FAKESTT|FAKELLM|FAKETTS)\s*\] \S")


async def test_every_line_of_a_call_is_in_the_guides_format(bot_factory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voice")
    prov = FakeProviders(stt=FakeSTT(["hello"]), llm=FakeLLM([["Hi there."]]), tts=FakeTTS(ms_per_char=2))
    bot = await bot_factory(providers=prov, bot_sample_rate=8000)
    node = await bot.call(callid="log-1")
    await node.wait_count("playAudio")
    await node.say(voiced(8000, 400))
    session = bot.server.sessions["log-1"]
    await node.wait_for(lambda n: len(session.history) >= 2, what="a turn")
    await node.hang_up()
    for _ in range(200):
        if "log-1" not in bot.server.sessions:
            break
        await asyncio.sleep(0.01)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("voice")]
    call_lines = [line for line in lines if "log-1" in line]
    assert call_lines, lines
    bad = [line for line in call_lines if not GUIDE.match(line)]
    assert not bad, bad
    summary = [line for line in call_lines if "[KNOWLARITY] Stream summary" in line]
    assert len(summary) == 1
    assert re.search(r"audio packets received=\d+ \(\d+\.\d s\) \| playAudio chunks sent=\d+ \(b64 \d+ chars\) \| "
                     r"killAudio=\d+ \| ended: caller hung up", summary[0])
    # the LLM's request and completion, and each TTS stream's summary, under their components
    assert any(re.search(r"\[FAKELLM   \] Stream request \| messages=\d+ tools=\d+", line) for line in call_lines)
    assert any(re.search(r"\[FAKELLM   \] Completion \| sentences=1 chars=9 tool_calls=\[\] \| first token \d+ ms", line)
               for line in call_lines)
    assert any(re.search(r"\[FAKETTS   \] Stream summary \| chars=9 \| chunks received=\d+ \(\d+ ms of audio\) \| "
                         r"first chunk \d+ ms", line) for line in call_lines)


async def test_a_refusal_names_the_route_this_bot_serves(bot_factory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(bot_token="tok-secret-1")
    for path in ("/stream", "/voice"):
        with pytest.raises(InvalidStatus):
            async with connect(bot.server.url.rsplit("/", 1)[0] + path):
                pass
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2
    assert refused[0].startswith("[call_id=-] [SERVER    ] refused ") and "404 Not Found" in refused[0]
    assert refused[1].startswith("[call_id=-] [KNOWLARITY] refused /voice ") and "403 Forbidden" in refused[1]
    assert all("this bot serves /voice (and /monitor)" in line for line in refused)
    assert all("tok-secret-1" not in line for line in refused)


def test_json_lines_for_machines() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("voice.test-json")
    logger.propagate = False
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    CallLog("abc-1", "DEEPGRAM", logger).info("Transcript (final) | text=%r", "hello")
    logger.warning("[SERVER] plain tag")
    logger.info("no tag at all")
    fmt = JsonLogFormatter()
    first, second, third = (json.loads(fmt.format(r)) for r in records)
    assert first["call_id"] == "abc-1" and first["component"] == "DEEPGRAM"
    assert first["message"] == "Transcript (final) | text='hello'" and first["level"] == "INFO"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", first["ts"])
    assert second["call_id"] is None and second["component"] == "SERVER" and second["message"] == "plain tag"
    assert third["component"] == "VOICE" and third["message"] == "no tag at all"


def test_log_json_is_a_global_flag() -> None:
    from console.cli import build_parser, with_default_command

    args = build_parser().parse_args(with_default_command(["--log-json", "-v", "bot", "--port", "0"]))
    assert args.log_json and args.command == "bot" and args.verbose == 1
    assert with_default_command(["--log-json"]) == ["--log-json", "console"]
