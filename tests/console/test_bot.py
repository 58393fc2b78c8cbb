"""The Bot view: in-process bus (the demo) and a real bot's /monitor on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

from console.botwatch import BusWatcher, MonitorWatcher
from console.listen import ListenSession, Mixer
from console.screens.bot import BotScreen
from console.screens.forms import FormScreen
from tests.console.conftest import SIZE, until
from voice.bus import (
    BargeIn,
    BotSentence,
    CallStarted,
    EventBus,
    HangupCommand,
    MonitorCommand,
    SayCommand,
    StateChanged,
    TranscriptEvent,
    TransferCommand,
    TurnMetrics,
)


def transcript(app: Any) -> str:
    return str(app.screen.query_one("#transcript-body").render())


async def test_bot_view_shows_a_call_growing_and_sends_commands(console_factory) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    commands: list[MonitorCommand] = []

    async def handler(command: MonitorCommand) -> str | None:
        commands.append(command)
        return "the call already ended" if isinstance(command, HangupCommand) else None

    bus.set_command_handler(handler)
    app = console_factory(stream=False, bot=BusWatcher(bus))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: app.bot_status.status == "live" and bus.subscriber_count == 1)
        bus.publish(CallStarted(call_id="c1", caller="9811100001", virtual_number="+918047100300"))
        bus.publish(TranscriptEvent(call_id="c1", text="what time do", final=False))
        await until(pilot, lambda: "what time do …" in transcript(app))
        bus.publish(TranscriptEvent(call_id="c1", text="what time do you open", final=True))
        bus.publish(StateChanged(call_id="c1", state="speaking"))
        bus.publish(BotSentence(call_id="c1", text="We open at nine and close at six today.", turn=1))
        await until(pilot, lambda: "what time do you open" in transcript(app) and "We open" in transcript(app))
        head = str(app.screen.query_one("#bot-head").render())
        assert "+919811100001" in head and "SPEAKING" in head
        # the caller interrupts: the sentence is cut and BARGE-IN flashes
        bus.publish(BargeIn(call_id="c1", latency_ms=95))
        bus.publish(BotSentence(call_id="c1", text="We open at nine and close at six today.", turn=1, heard="We open at nine"))
        bus.publish(TurnMetrics(call_id="c1", turn=1, stt_final_ms=210, llm_first_token_ms=3, first_audio_ms=40,
                                total_ms=250, interrupted=True))
        await until(pilot, lambda: "BARGE-IN" in str(app.screen.query_one("#bot-head").render()))
        await until(pilot, lambda: "(cut off)" in transcript(app))
        turns = app.screen.query_one("#bot-turns")
        await until(pilot, lambda: turns.row_count == 1)
        assert [str(c) for c in turns.get_row_at(0)][:2] == ["1", "210"]
        # commands: transfer (default number), say a line, hang up (an error shown in words)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        await pilot.press("enter")
        await until(pilot, lambda: len(commands) == 1)
        assert commands[0] == TransferCommand(call_id="c1", destination=None)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*"One moment please", "enter")
        await until(pilot, lambda: len(commands) == 2)
        assert commands[1] == SayCommand(call_id="c1", text="One moment please")
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        app.screen.action_submit()
        await until(pilot, lambda: len(commands) == 3)
        await pilot.pause(0.2)
        form = app.screen
        assert isinstance(form, FormScreen) and "already ended" in str(form.query_one("#form-error").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BotScreen)


async def test_listen_without_sound_says_so_and_carries_on(console_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from voice.sound import SoundUnavailable

    def no_sound(self: Any) -> Any:
        raise SoundUnavailable("sound is unavailable (PortAudio library not found); install PortAudio")

    monkeypatch.setattr("voice.sound.Player.start", no_sound)
    bus = EventBus()
    app = console_factory(stream=False, bot=BusWatcher(bus))
    notes: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app, "notify", lambda message, **kw: notes.append(str(message)))
        await pilot.press("5")
        await until(pilot, lambda: bus.subscriber_count == 1)
        bus.publish(CallStarted(call_id="c2", caller="9811100002"))
        await until(pilot, lambda: app.screen.query_one("#bot-calls").row_count == 1)
        assert "worker" not in app.screen.query_one("#bot-calls").shown_columns  # one bot, not a fleet
        await pilot.pause(0.2)
        await pilot.press("l")
        await pilot.pause()
        assert app.listen is None and any("PortAudio" in n for n in notes)
        bus.publish(TranscriptEvent(call_id="c2", text="still working", final=True))
        await until(pilot, lambda: "still working" in transcript(app))


def test_mixer_mixes_both_sides_at_the_wall_clock_pace() -> None:
    t = [0.0]
    mixer = Mixer(16000, clock=lambda: t[0])
    one = (1000).to_bytes(2, "little", signed=True)
    mixer.add("caller", one * 1600, 16000)   # 100 ms
    mixer.add("bot", one * 16000, 8000)      # 2 s at 8 kHz, resampled to 16 kHz
    t[0] = 0.05
    out = mixer.pump()
    assert len(out) == 1600  # 50 ms at 16 kHz
    mixer.clear_bot()
    t[0] = 0.10
    assert len(mixer.pump()) == 1600
    assert mixer.level_dbfs < 0


def test_listen_session_feeds_a_player() -> None:
    import base64

    class FakePlayer:
        def __init__(self) -> None:
            self.written = b""
            self.level_dbfs = float("-inf")
            self.cleared = 0

        def start(self) -> None: ...
        def write(self, pcm: bytes) -> None:
            self.written += pcm
        def clear(self) -> None:
            self.cleared += 1
        def close(self) -> None: ...

    player = FakePlayer()
    now = [100.0]
    session = ListenSession("c1", 16000, player=player, clock=lambda: now[0])  # type: ignore[arg-type]
    assert session.start() is None
    frame = type("F", (), {"call_id": "c1", "source": "caller", "sample_rate": 16000,
                           "pcm_b64": base64.b64encode(b"\x10\x00" * 320).decode()})()
    now[0] += 0.02  # 20 ms of audio are due
    session.feed(frame)
    session.feed(type("F", (), {"call_id": "other"})())
    session.barge_in("c1")
    assert player.written and player.cleared == 1 and session.frames == 1


async def test_a_real_bot_watched_over_its_monitor_socket(console_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.voice.core.core_fakes import FakeProviders, FakeSTT, FakeTTS
    from voice.caller import Caller, Conversation, Turn
    from voice.config import load_bot_settings
    from voice.server import BotServer

    settings = load_bot_settings(bot_host="127.0.0.1", bot_port=0, greeting="Hi.", transfer_number="+919811100009",
                                 monitor_token="watch-me")
    providers = FakeProviders(stt=FakeSTT(default_text="I need a person"), tts=FakeTTS(ms_per_char=5, min_ms=100))
    bot = BotServer(settings, providers=providers)
    await bot.start()
    wrong = MonitorWatcher(bot.monitor_url, token="nope")
    states: list[str] = []
    async for _ in wrong.events(lambda s: states.append(s.status)):
        pass  # a refused token ends the feed at once
    assert states[-1] == "failed"
    watcher = MonitorWatcher(bot.monitor_url, token="watch-me")
    app = console_factory(stream=False, bot=watcher)
    caller_task: asyncio.Task[Any] | None = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await until(pilot, lambda: app.bot_status.status == "live")
            conversation = Conversation("person", (Turn(say="I need a person", wait=8.0),))
            caller = Caller(bot.url, tts=FakeTTS(ms_per_char=20), no_audio_timeout=5.0, hangup_grace=0.2)
            caller_task = asyncio.create_task(caller.run(conversation))
            await until(pilot, lambda: len(app.state.bot.calls) == 1, timeout=8)
            call = next(iter(app.state.bot.calls.values()))
            await until(pilot, lambda: any(line.speaker == "caller" for line in call.lines), timeout=10)
            await pilot.pause(0.2)
            await pilot.press("t")
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: call.transferred_to == "+919811100009", timeout=10)
            await until(pilot, lambda: call.finished, timeout=10)
            await until(pilot, lambda: "transferred to +919811100009" in transcript(app))
            # the pane says who ended it: the transfer, not "caller hung up ... transferred to"
            await until(pilot, lambda: "ENDED" in str(app.screen.query_one("#bot-head").render()))
            head = str(app.screen.query_one("#bot-head").render())
            assert "ENDED  transferred to +919811100009" in head and "caller hung up" not in head
            assert call.ended_by == "transferred"
    finally:
        if caller_task is not None:
            caller_task.cancel()
            await asyncio.gather(caller_task, return_exceptions=True)
        await watcher.aclose()
        await bot.close()


async def test_the_view_follows_the_next_live_call_unless_the_user_chose_one(console_factory) -> None:  # type: ignore[no-untyped-def]
    from voice.bus import CallEnded

    bus = EventBus()
    app = console_factory(stream=False, bot=BusWatcher(bus))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: bus.subscriber_count == 1)
        screen = app.screen
        bus.publish(CallStarted(call_id="a", caller="9811100001"))
        await until(pilot, lambda: screen.selected_call() is not None and screen.selected_call().call_id == "a")
        bus.publish(CallEnded(call_id="a"))
        bus.publish(CallStarted(call_id="b", caller="9811100002"))
        await until(pilot, lambda: screen.selected_call().call_id == "b")
        await pilot.press("j")  # the user goes back to read the finished call
        await until(pilot, lambda: screen.selected_call().call_id == "a")
        bus.publish(CallStarted(call_id="c", caller="9811100003"))
        await pilot.pause(0.4)
        assert screen.selected_call().call_id == "a"


async def test_listen_plays_the_mixed_call_and_shows_a_meter(console_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import base64

    import numpy as np

    from voice.bus import AudioFrame

    played: list[bytes] = []

    class FakePlayer:
        def __init__(self, rate: int, **kwargs: Any) -> None:
            self.level_dbfs = float("-inf")

        def start(self) -> FakePlayer:
            return self

        def write(self, pcm: bytes) -> None:
            played.append(pcm)
            self.level_dbfs = -12.0

        def clear(self) -> None: ...
        def close(self) -> None: ...

    monkeypatch.setattr("console.listen.Player", FakePlayer)
    bus = EventBus()
    app = console_factory(stream=False, bot=BusWatcher(bus))
    tone = (np.sin(np.arange(320) / 5) * 8000).astype(np.int16).tobytes()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: bus.subscriber_count == 1)
        bus.publish(CallStarted(call_id="c9", caller="9811100009"))
        await until(pilot, lambda: app.screen.selected_call() is not None)
        assert not bus.wants_audio("c9")
        await pilot.press("l")
        await until(pilot, lambda: app.listen is not None and bus.wants_audio("c9"))
        for i in range(25):
            bus.publish(AudioFrame(call_id="c9", source="caller" if i % 2 else "bot", sample_rate=16000,
                                   pcm_b64=base64.b64encode(tone).decode()))
            await asyncio.sleep(0.01)
        await until(pilot, lambda: len(played) > 3)
        meter = app.screen.query_one("#bot-meter")
        await until(pilot, lambda: meter.display and "dBFS" in str(meter.render()))
        await pilot.press("l")
        await until(pilot, lambda: app.listen is None and not bus.wants_audio("c9"))


async def test_the_pane_says_a_supervisor_hung_up(console_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.voice.core.core_fakes import FakeProviders, FakeSTT, FakeTTS
    from voice.caller import Caller, Conversation, Turn
    from voice.config import load_bot_settings
    from voice.server import BotServer

    settings = load_bot_settings(bot_host="127.0.0.1", bot_port=0, greeting="Hi.", monitor_token="watch-me")
    bot = BotServer(settings, providers=FakeProviders(stt=FakeSTT(default_text="hello"),
                                                      tts=FakeTTS(ms_per_char=5, min_ms=100)))
    await bot.start()
    watcher = MonitorWatcher(bot.monitor_url, token="watch-me")
    app = console_factory(stream=False, bot=watcher)
    caller_task: asyncio.Task[Any] | None = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await until(pilot, lambda: app.bot_status.status == "live")
            caller = Caller(bot.url, tts=FakeTTS(ms_per_char=20), no_audio_timeout=5.0, hangup_grace=0.2)
            caller_task = asyncio.create_task(caller.run(Conversation("hold", (Turn(say="hello", wait=8.0),))))
            await until(pilot, lambda: len(app.state.bot.calls) == 1, timeout=8)
            call = next(iter(app.state.bot.calls.values()))
            await until(pilot, lambda: any(line.speaker == "bot" for line in call.lines), timeout=10)
            # The key acts on the call the screen shows: wait for its redraw to have picked it.
            await until(pilot, lambda: app.screen.selected_call() is call)
            await pilot.press("h")
            await until(pilot, lambda: isinstance(app.screen, FormScreen))
            app.screen.action_submit()
            await until(pilot, lambda: call.finished, timeout=10)
            await until(pilot, lambda: "ENDED" in str(app.screen.query_one("#bot-head").render()))
            head = str(app.screen.query_one("#bot-head").render())
            assert "ENDED  hung up by supervisor" in head and "caller hung up" not in head
            assert call.ended_by == "supervisor_hangup"
    finally:
        if caller_task is not None:
            caller_task.cancel()
            await asyncio.gather(caller_task, return_exceptions=True)
        await watcher.aclose()
        await bot.close()
