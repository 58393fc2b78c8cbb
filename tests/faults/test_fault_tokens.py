"""The bot endpoint and the /monitor feed refuse a wrong token, as a user meets them.

The caller is voice.caller (the Stream Node emulator `kconsole call` uses) and the watcher is
the console's MonitorWatcher (what `kconsole --bot URL` uses): a stranger gets a clear
refusal, never a session, and no provider is touched; the right token works on the same
server at the same time.
"""

from __future__ import annotations

import asyncio

from console.botwatch import MonitorWatcher
from tests.faults.faults_support import Providers, bot_settings
from voice.bus import CallStarted
from voice.caller import Caller
from voice.server import BotServer

VOICE_TOKEN = "voice-token-4f9a1c0d22e7"
MONITOR_TOKEN = "monitor-token-77be02c9a1"
WRONG = "wrong-token-0123456789ab"


async def _watch(watcher: MonitorWatcher, states: list[object], seen: list[object], stop: asyncio.Event) -> None:
    async for event in watcher.events(on_state=states.append):
        seen.append(event)
        if stop.is_set():
            return


async def test_wrong_tokens_are_refused_and_right_ones_work() -> None:
    providers = Providers()
    server = BotServer(bot_settings(bot_token=VOICE_TOKEN, monitor_token=MONITOR_TOKEN), providers=providers)
    await server.start()
    try:
        # strangers: a wrong query token, a wrong path token, no token, the monitor's token
        for url in (f"{server.url}?token={WRONG}", f"{server.url}/{WRONG}", server.url,
                    f"{server.url}?token={MONITOR_TOKEN}"):
            report = await Caller(url, no_audio_timeout=2.0, tts=providers.tts).run()
            assert report.outcome == "error"
            assert "403" in (report.error or "") or "refused" in (report.error or "").lower()
            for secret in (WRONG, MONITOR_TOKEN):
                assert secret not in (report.error or "") and secret not in report.url
        assert server.stats.calls == 0 and providers.stt.opened == 0, "no session, no provider touched"

        # a wrong monitor token: the console's watcher says so and stops, no retry storm
        states: list[object] = []
        bad = MonitorWatcher(server.monitor_url, token="wrong-monitor-token")
        events = [e async for e in bad.events(on_state=states.append)]
        assert events == []
        assert getattr(states[-1], "status", None) == "failed"
        assert "refused" in (getattr(states[-1], "reason", "") or "")
        await bad.aclose()
        # the voice token does not open the monitor either (monitor_token is set)
        states2: list[object] = []
        assert [e async for e in MonitorWatcher(server.monitor_url, token=VOICE_TOKEN).events(on_state=states2.append)] == []
        assert getattr(states2[-1], "status", None) == "failed"

        # the right tokens: the watcher sees the call the right caller places
        good = MonitorWatcher(server.monitor_url, token=MONITOR_TOKEN)
        seen: list[object] = []
        good_states: list[object] = []
        stop = asyncio.Event()
        watch = asyncio.create_task(_watch(good, good_states, seen, stop))
        for _ in range(100):
            if any(getattr(s, "status", None) == "live" for s in good_states):
                break
            await asyncio.sleep(0.02)
        report = await Caller(f"{server.url}/{VOICE_TOKEN}", hangup_grace=0.1, tts=providers.tts).run()
        assert report.greeting_ms is not None and report.outcome == "completed"
        assert VOICE_TOKEN not in report.url and VOICE_TOKEN not in report.to_json()
        for _ in range(100):
            if any(isinstance(e, CallStarted) for e in seen):
                break
            await asyncio.sleep(0.02)
        assert any(isinstance(e, CallStarted) and e.call_id == report.call_id for e in seen)
        stop.set()
        await good.aclose()
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
    finally:
        await server.close()
