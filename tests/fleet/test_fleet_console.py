"""The console on a fleet (Pilot): every worker's calls in the Bot view with the worker named,
the fleet line, a hang-up routed to the owner, and a console that needs no Knowlarity keys."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from console.app import ConsoleDeps, build_app
from console.config import load_console_settings
from console.fleetwatch import FleetWatcher
from console.launch import bot_watcher_from_args
from console.mergewatch import MergedWatcher
from console.noaccount import NO_ACCOUNT, account_less_client
from console.screens.forms import FormScreen
from tests.console.conftest import until
from tests.fleet.fleet_helpers import call, start_worker

pytestmark = pytest.mark.timeout(150)


def _text(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_the_bot_view_shows_the_fleet_and_needs_no_account(redis_server, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env with keys
    for name in ("KNOWLARITY_SR_API_KEY", "KNOWLARITY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    w1 = await start_worker(redis_server.url, "bot-a")
    w2 = await start_worker(redis_server.url, "bot-b")
    settings = load_console_settings()
    assert not settings.has_credentials
    client = account_less_client(settings)
    app = build_app(ConsoleDeps(client=client, settings=settings, stream_factory=None,
                                bot=FleetWatcher(redis_server.url), source="no account", start_view="bot"))
    callers = []
    try:
        async with app.run_test(size=(160, 45)) as pilot:
            await until(pilot, lambda: app.bot_status.status == "live", timeout=30)
            callers.append(await call(w1.server.url, "on-a"))
            callers.append(await call(w2.server.url, "on-b"))
            await until(pilot, lambda: {"on-a", "on-b"} <= set(app.state.bot.calls), timeout=30)
            await until(pilot, lambda: "Fleet: 2 workers" in _text(app, "#bot-fleet"), timeout=30)
            fleet = _text(app, "#bot-fleet")
            assert "bot-a" in fleet and "bot-b" in fleet
            await until(pilot, lambda: " on bot-" in _text(app, "#bot-head"))
            shown = app.screen.selected_call()
            assert shown is not None and f"on {shown.worker}" in _text(app, "#bot-head")
            # On a fleet the call list names each call's worker in its own column.
            table = app.screen.query_one("#bot-calls")
            await until(pilot, lambda: "worker" in table.shown_columns)  # after the pane has widened
            workers = {str(table.get_row(key)[table.shown_columns.index("worker")]) for key in ("on-a", "on-b")}
            assert workers == {"bot-a", "bot-b"}
            # Hang up the shown call: the command must reach the worker holding it.
            owner = {"bot-a": w1, "bot-b": w2}[shown.worker]
            await pilot.press("h")
            await until(pilot, lambda: isinstance(app.screen, FormScreen))
            app.screen.action_submit()
            await until(pilot, lambda: shown.call_id not in owner.server.sessions, timeout=30)
            await until(pilot, lambda: app.state.bot.get(shown.call_id).finished, timeout=30)
            # Another view says what it needs instead of failing obscurely.
            await pilot.press("2")
            await until(pilot, lambda: "needs a Knowlarity account" in (app.state.agents.error or ""), timeout=30)
    finally:
        for c in callers:
            await c.hang_up()
        await client.aclose()
        await w1.close()
        await w2.close()


async def test_the_account_less_client_answers_every_request_with_what_is_needed():
    from console.api.errors import AuthError

    client = account_less_client(load_console_settings(_env_file=None))
    try:
        with pytest.raises(AuthError) as err:
            await client.list_agents()
        assert NO_ACCOUNT in str(err.value)
    finally:
        await client.aclose()


def test_bot_and_bus_together_make_one_merged_watcher(monkeypatch):
    monkeypatch.delenv("BOT_BUS", raising=False)
    args = argparse.Namespace(bot="ws://127.0.0.1:1/monitor", monitor_token=None, bus="redis://127.0.0.1:1/0")
    watcher = bot_watcher_from_args(args)
    assert isinstance(watcher, MergedWatcher) and len(watcher.watchers) == 2
    only_bus = bot_watcher_from_args(argparse.Namespace(bot=None, monitor_token=None, bus="redis://127.0.0.1:1/0"))
    assert isinstance(only_bus, FleetWatcher)
    from kcommon.errors import ConfigError

    with pytest.raises(ConfigError, match="--bus"):
        bot_watcher_from_args(argparse.Namespace(bot=None, monitor_token=None, bus="http://x"))


def test_the_calls_state_keeps_workers_and_names_the_owner_of_each_call():
    from console.state import BotCalls
    from voice.bus import CallEnded, CallStarted, WorkerStatus

    now = [100.0]
    calls = BotCalls(clock=lambda: now[0])
    assert calls.fleet_line(now[0]) == ""  # a lone bot: no fleet line
    calls.ingest(WorkerStatus(call_id="*", worker="w1", live_calls=["a"], load=0.25, loop_lag_ms=3))
    calls.ingest(WorkerStatus(call_id="*", worker="w2", live_calls=[], load=0.0))
    calls.ingest(CallStarted(call_id="a", worker="w1", caller="9811100001"))
    assert "*" not in calls.calls and calls.get("a").worker == "w1"
    now[0] = 102.0
    line = calls.fleet_line(now[0])
    assert line.startswith("Fleet: 2 workers, 1 live calls") and "w1 1 live load 0.25 lag 3 ms seen 2 s ago" in line
    calls.ingest(WorkerStatus(call_id="*", worker="w1", state="lost", live_calls=["a"]))
    calls.ingest(CallEnded(call_id="a", worker="w1", reason="lost: worker w1 stopped answering (4 s)"))
    assert "w1 LOST 1 calls lost" in calls.fleet_line(now[0]) and calls.get("a").finished
    calls.ingest(WorkerStatus(call_id="*", worker="w2", state="stopped"))
    assert "w2" not in calls.fleet_line(now[0])
