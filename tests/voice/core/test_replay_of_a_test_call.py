"""A call recorded by the bot, made by the real Stream Node emulator, replayed.

The bot runs on the real clock here (a ScaledClock would put the WAVs on a compressed
timeline while events keep wall-clock stamps), so the recording is what production writes.
"""

from __future__ import annotations

import asyncio

import numpy as np

from console.replay_source import ReplaySource
from tests.voice.core.core_fakes import FakeLLM, FakeProviders, FakeSTT, FakeTTS, voiced
from voice.caller import Turn, place_call
from voice.clock import MonotonicClock
from voice.replay import find_recordings, load_recording, summarize
from voice.replay.summary import LEVEL_STEP_S, levels_dbfs


async def test_a_recorded_test_call_replays_as_it_happened(bot_factory, tmp_path) -> None:
    prov = FakeProviders(stt=FakeSTT(["what are your hours"]), llm=FakeLLM([["We open at nine."]]),
                         tts=FakeTTS(ms_per_char=15))
    bot = await bot_factory(providers=prov, record_dir=tmp_path, clock=MonotonicClock(), bot_sample_rate=8000,
                            greeting="Hello, this is the test line.")
    report = await place_call(bot.server.url, [Turn(audio=voiced(8000, 700), audio_rate=8000)], sample_rate=8000,
                              reply_timeout=5)
    assert report.ok, report.describe_outcome()
    for _ in range(200):
        if not bot.server.sessions:
            break
        await asyncio.sleep(0.01)
    [folder] = find_recordings(tmp_path)
    rec = load_recording(folder)
    assert rec.missing == [] and not rec.truncated
    s = summarize(rec)
    assert s.turns[0].bot == "Hello, this is the test line." and s.greeting_ms is not None
    assert s.turns[1].caller == "what are your hours" and s.turns[1].bot == "We open at nine."
    assert s.turns[1].total_ms is not None and s.outcome == "caller hung up"
    # the audio and the events share one timeline: the bot is loud where its sentences start
    bot_levels = levels_dbfs(rec.bot.pcm, rec.bot.rate)
    for row in s.turns:
        i = int((row.at_s + 0.15) / LEVEL_STEP_S)
        assert np.max(bot_levels[i : i + 4]) > -30, f"turn {row.turn} at {row.at_s:.2f} s is silent in bot.wav"
    # and the replay source walks it
    src = ReplaySource([rec], audio_side="off")
    src.seek(s.turns[1].at_s + 0.01)
    call = src.state.get(rec.call_id)
    assert [line.text for line in call.lines][-2:] == ["what are your hours", "We open at nine."]
