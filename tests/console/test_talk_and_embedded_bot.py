"""`--serve-bot`: the bot inside the console process, its panel fed in-process; "talk": a
test call to it with a microphone as the caller (a stand-in microphone here)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator

import pytest

from console.botwatch import BusWatcher
from console.embedded_bot import parse_listen, start_embedded_bot
from console.launch import main as launch_main
from console.screens.bot import BotScreen
from console.talk import TalkSession
from kcommon.errors import ConfigError
from tests.console.conftest import SIZE, until

OFFLINE = {"stt_provider": "local", "llm_provider": "script", "tts_provider": "local", "bot_token": None,
           "monitor_token": None}


class StandInMic:
    """A microphone that says nothing, paced in real time, until closed."""

    def __init__(self, rate: int) -> None:
        self.frame = b"\x00\x00" * (rate // 50)
        self.closed = False
        self.level_dbfs = float("-inf")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[bytes]:
        while not self.closed:
            yield self.frame
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self.closed = True


def test_serve_bot_spec_is_checked_before_anything_starts() -> None:
    assert parse_listen("8765") == (None, 8765)
    assert parse_listen("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("", "host:", "99999", "a:b:c", "port"):
        with pytest.raises(ConfigError, match="--serve-bot"):
            parse_listen(bad)
    args = argparse.Namespace(sandbox="http://127.0.0.1:9", sr_key=None, api_key=None, channel=None, agent=None,
                              k_number=None, keymap=None, view="live", bot="ws://127.0.0.1:1/monitor",
                              monitor_token=None, serve_bot="0")
    with pytest.raises(ConfigError, match="give one of them"):
        launch_main(args)


async def test_embedded_bot_feeds_the_panel_and_talk_places_a_test_call(console_factory) -> None:  # type: ignore[no-untyped-def]
    bot = await start_embedded_bot("127.0.0.1:0", **OFFLINE)
    try:
        assert bot.url.startswith("ws://127.0.0.1:")
        app = console_factory(stream=False, bot=BusWatcher(bot.bus), bot_voice=(bot.url, bot.token, bot.sample_rate))
        mics: list[StandInMic] = []

        def talk_factory(url: str, **kwargs: object) -> TalkSession:
            def microphone(rate: int) -> StandInMic:
                mics.append(StandInMic(rate))
                return mics[-1]

            return TalkSession(url, microphone=microphone, speaker=None, **kwargs)  # type: ignore[arg-type]

        app.talk_factory = talk_factory
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            assert isinstance(app.screen, BotScreen)
            await until(pilot, lambda: app.bot_status.status == "live")
            assert app.screen.check_action("talk", ()) is True
            await pilot.press("T")
            await until(pilot, lambda: app.talk is not None)
            call_id = app.talk.call_id  # type: ignore[union-attr]
            # the test call reaches the bot, whose session publishes on the in-process bus
            await until(pilot, lambda: app.state.bot.get(call_id) is not None, timeout=15)
            call = app.state.bot.get(call_id)
            assert call is not None and call.caller == "+910000000000"
            await until(pilot, lambda: any(line.speaker == "bot" for line in call.lines), timeout=20)
            await pilot.press("T")  # hang up
            await until(pilot, lambda: app.talk is None, timeout=10)
            assert mics and mics[0].closed
            await until(pilot, lambda: call.finished, timeout=10)
    finally:
        await bot.close()


async def test_talk_without_a_microphone_says_why_and_dials_nothing(console_factory) -> None:  # type: ignore[no-untyped-def]
    def no_portaudio(rate: int) -> object:
        raise OSError("PortAudio library not found")

    app = console_factory(stream=False, bot_voice=("ws://127.0.0.1:9/voice", None, 16000))
    app.talk_factory = lambda url, **kw: TalkSession(url, microphone=no_portaudio, **kw)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        error = app.start_talking()
        assert error is not None and "microphone" in error and "PortAudio" in error
        assert app.talk is None
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        assert app.screen.check_action("talk", ()) is False  # no bot URL known: no talk key
        assert "--serve-bot" in (app.start_talking() or "")
