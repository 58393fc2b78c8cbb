"""The console against the real sandbox on loopback: every view, the keys, the palette."""

from __future__ import annotations

import asyncio
import io

from console.screens.account import AccountScreen
from console.screens.agents import AgentsScreen
from console.screens.base import FilterBar
from console.screens.bot import BotScreen
from console.screens.calllog import CallLogScreen
from console.screens.campaigns import CampaignsScreen
from console.screens.detail import DetailScreen
from console.screens.forms import FormScreen
from console.screens.help import HelpScreen
from console.screens.live import LiveScreen
from console.screens.tasks import TasksScreen
from console.widgets.badge import TopBar
from console.widgets.table import VimTable
from sandbox.server import SandboxServer
from tests.console.conftest import SIZE, until


def bar_text(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(TopBar).render())


async def test_number_keys_switch_views_and_esc_stays(console_factory) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LiveScreen)
        for key, cls in (("2", AgentsScreen), ("3", TasksScreen), ("4", CallLogScreen), ("5", BotScreen),
                         ("6", CampaignsScreen), ("7", AccountScreen), ("1", LiveScreen)):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, cls), key
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LiveScreen)  # esc closes things; it never changes the view
        await until(pilot, lambda: "1 Live" in bar_text(app))


async def test_live_board_follows_a_call_from_originate_to_cdr(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(agent=sandbox.account.default_agent.phone_number)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.stream_status.status == "live")
        await until(pilot, lambda: "stream live" in bar_text(app))  # the bar redraws on the next tick
        uuid = sandbox.place_inbound_call()
        board = app.state.board
        await until(pilot, lambda: uuid in board and board.get(uuid).event == "CDR")  # type: ignore[union-attr]
        row = board.get(uuid)
        assert row is not None and row.direction == "Inbound" and "ORIGINATE" in row.events and "HANGUP" in row.events
        await pilot.pause(0.2)
        table = app.screen.query_one("#board", VimTable)
        assert uuid in table.row_keys() or uuid in board.history
        feed_kinds = [line.kind for line in board.feed]
        assert "ORIGINATE" in feed_kinds and "CDR" in feed_kinds


async def test_pause_freezes_the_board_and_shows_paused(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = console_factory()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.stream_status.status == "live")
        await pilot.press("p")
        await pilot.pause(0.2)
        assert app.paused and "PAUSED" in bar_text(app)
        table = app.screen.query_one("#board", VimTable)
        before = table.row_keys()
        uuid = sandbox.place_inbound_call()
        await until(pilot, lambda: uuid in app.state.board)  # state keeps ingesting while paused
        await pilot.pause(0.3)
        assert table.row_keys() == before
        assert "PAUSED +" in bar_text(app)
        await pilot.press("p")
        await until(pilot, lambda: uuid in table.row_keys() or uuid in app.state.board.history)
        assert "PAUSED" not in bar_text(app)


async def test_me_toggle_asks_for_a_number_then_filters(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    me = sandbox.account.default_agent.phone_number
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("m")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "FormScreen"
        await pilot.press(*me[-10:], "enter")
        await pilot.pause()
        assert app.state.my_number == me and app.state.view.mine_only
        assert f"me {me}" in bar_text(app)
        app.state.board.ingest_event("x1", "ORIGINATE", direction="Inbound", customer="9811100000", agent="9811199999")
        app.state.board.ingest_event("x2", "AGENT_CALL", direction="Inbound", customer="9811100001", agent=me)
        await pilot.pause(0.3)
        assert app.screen.query_one("#board", VimTable).row_keys() == ["x2"]
        await pilot.press("m")
        await pilot.pause(0.3)
        assert app.screen.query_one("#board", VimTable).row_keys() == ["x1", "x2"]


async def test_screen_pop_for_an_incoming_call_to_me(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    me = sandbox.account.default_agent.phone_number
    app = console_factory(agent=me)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.stream_status.status == "live")
        caller = "+919811155555"
        app.state.board.ingest_event("pop1", "ORIGINATE", direction="Inbound", customer=caller)
        app.state.board.ingest_event("pop1", "AGENT_CALL", direction="Inbound", customer=caller, agent=me)
        screen = app.screen
        assert isinstance(screen, LiveScreen)
        await until(pilot, lambda: "previous calls" in str(screen.query_one("#pop-body").render()), timeout=5)
        panel = str(screen.query_one("#pop-head").render())
        assert "INCOMING" in panel and caller in panel
        body = str(screen.query_one("#pop-body").render())
        assert "previous calls" in body and "open tasks" in body
        assert screen.selected_number() == caller
        await pilot.press("x")
        await pilot.pause()
        assert not screen.query_one("#pop").has_class("-open")


async def test_help_lists_every_key_with_its_id(console_factory) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        from rich.console import Console

        from console.screens.help import help_table

        console = Console(width=120, record=True, file=io.StringIO())
        console.print(help_table(app.screen.sections))
        text = console.export_text()
        for needle in ("app.dial", "app.pause", "table.down", "bot.transfer", "calllog.more", "campaigns.stop",
                       "account.enable", "tasks.call_back", "live.details", "view.filter", "dial.go", "form.submit"):
            assert needle in text, needle
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LiveScreen)


async def test_keymap_remaps_a_binding_by_id(console_factory) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False, keymap={"view.agents": "f2"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, AgentsScreen)
        keys = {row[2]: row[0] for _, rows in app.key_help() for row in rows}
        assert keys["view.agents"] == "f2"


async def test_palette_has_a_command_for_every_view_and_action(console_factory) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Go to Live", "Go to Account", "Dial a number (click-to-call)", "OTP call",
                      "Toggle my calls / everyone", "Pause / resume the live feed", "Help: every key"):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go to agents")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, AgentsScreen))


async def test_agents_view_polls_filters_and_opens_details(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False, agent_poll_s=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        table = app.screen.query_one("#agents-table", VimTable)
        await until(pilot, lambda: table.row_count == len(sandbox.account.agents))
        first = app.state.agents.updated
        await until(pilot, lambda: app.state.agents.updated != first)  # polled again
        await pilot.press("slash")
        await pilot.pause()
        assert app.screen.query_one(FilterBar).has_class("-open")
        name = sandbox.account.agents[3].first_name
        await pilot.press(*name)
        await until(pilot, lambda: 1 <= table.row_count < len(sandbox.account.agents))
        await pilot.press("enter")  # keep the filter, back to the table
        await pilot.pause()
        assert table.has_focus
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        detail = app.screen
        await until(pilot, lambda: any(label == "first name" for label, _ in detail.fields))
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")  # clears the filter
        await until(pilot, lambda: table.row_count == len(sandbox.account.agents))


async def test_vim_motions_move_the_cursor(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        table = app.screen.query_one("#tasks-table", VimTable)
        await until(pilot, lambda: table.row_count > 5)
        await pilot.press("j", "j", "j")
        assert table.cursor_row == 3
        await pilot.press("k")
        assert table.cursor_row == 2
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0


async def test_tasks_missed_first_and_call_back_opens_the_dial_form(console_factory) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        table = app.screen.query_one("#tasks-table", VimTable)
        await until(pilot, lambda: table.row_count > 0)
        rows = app.state.tasks.rows(app.screen.view)
        open_rows = [t for t in rows if not t.completed]
        assert open_rows and open_rows[0].is_missed
        phone = app.screen.selected_number()
        assert phone
        await pilot.press("c")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "DialScreen"
        assert app.screen.query_one("#dial-customer").value == phone
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TasksScreen)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        detail = app.screen
        await until(pilot, lambda: any(label == "phone" for label, _ in detail.fields) and "loading" not in detail.note)


async def test_call_log_searches_pages_by_offset_and_opens_detail(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, CallLogScreen)
        await until(pilot, lambda: screen.pages == 1, timeout=8)
        first = len(screen.records)
        assert first == 50 and screen.next_query is not None and screen.next_query.offset == 50
        assert screen.total is not None and screen.total > 100  # get_total asked on the first page
        assert f"of {screen.total:,} calls" in str(screen.query_one("#calllog-status").render())
        table = screen.query_one("#calllog-table", VimTable)
        assert table.has_focus
        await pilot.press("G")  # the end of the results pages in the next page
        await until(pilot, lambda: screen.pages == 2)
        assert len(screen.records) == 100 and table.row_count == 100
        await pilot.press("g", "enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        detail = app.screen
        await until(pilot, lambda: "loading" not in detail.note)
        labels = [label for label, _ in detail.fields]
        assert "uuid" in labels and "call status" in labels
        await pilot.press("escape")
        await pilot.pause()
        # a filtered search: a customer's calls
        record = next(iter(screen.records.values()))
        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*(record.customer_number or "")[-10:], "enter")
        await until(pilot, lambda: screen.pages == 1 and screen.records and all(
            (r.customer_number or "").endswith((record.customer_number or "")[-10:]) for r in screen.records.values()))


async def test_call_log_bad_input_is_a_message_not_a_crash(console_factory) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        screen = app.screen
        await until(pilot, lambda: screen.pages == 1, timeout=8)
        screen.query_one("#q-start").value = "yesterday-ish"
        screen.action_search()
        await pilot.pause()
        assert "is not a date" in str(screen.query_one("#calllog-status").render())
        screen.query_one("#q-start").value = "2020-01-01"
        screen.query_one("#q-end").value = "2021-01-01"
        screen.action_search()
        await pilot.pause()
        assert "3 months" in str(screen.query_one("#calllog-status").render())


async def test_campaigns_pause_resume_add_numbers_and_create(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, CampaignsScreen)
        table = screen.query_one("#campaigns-table", VimTable)
        await until(pilot, lambda: table.row_count == len(sandbox.account.campaigns))
        running = next(c for c in sandbox.account.campaigns if c.to_json()["order_status"] == "In Progress")
        oid = str(running.to_json()["order_id"])
        table.move_cursor(row=table.get_row_index(oid))
        await pilot.pause()
        await pilot.press("z")  # pause
        await pilot.pause()
        await pilot.click("#form-submit")
        await until(pilot, lambda: screen.campaigns[oid].status.lower() == "paused")
        await pilot.press("u")  # resume
        await pilot.pause()
        await pilot.click("#form-submit")
        await until(pilot, lambda: screen.campaigns[oid].status.lower() != "paused")
        before = screen.campaigns[oid].item.total_calls or 0
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"9811100001, 9811100002", "enter")
        await until(pilot, lambda: (screen.campaigns[oid].item.total_calls or 0) == before + 2)
        count = table.row_count
        await pilot.press("n")
        await until(pilot, lambda: app.screen.query("#field-additional_number"))
        form = app.screen
        form.query_one("#field-additional_number").value = "+919811100003"
        form.action_submit()  # shows what will happen
        await pilot.pause()
        form.action_submit()  # creates it
        await until(pilot, lambda: table.row_count == count + 1)


async def test_account_register_enable_disable(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        screen = app.screen
        assert isinstance(screen, AccountScreen)
        table = screen.query_one("#notif-table", VimTable)
        await until(pilot, lambda: table.row_count > 0)
        assert screen.query_one("#numbers-table", VimTable).row_count == len(sandbox.account.numbers)
        key = table.selected_key
        assert key and screen.registrations[key].enable
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))  # disabling asks first
        await pilot.press("enter")  # Cancel is the default
        await until(pilot, lambda: not isinstance(app.screen, FormScreen))
        assert screen.registrations[key].enable
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("shift+tab", "enter")  # to "Disable" and press it
        await until(pilot, lambda: not screen.registrations[key].enable)
        await pilot.press("e")
        await until(pilot, lambda: screen.registrations[key].enable)
        secrets = {str(v) for r in sandbox.account.registrations for k, v in r.to_json().items()
                   if k in ("k_api_key", "app_api_key", "app_data") and v}
        cells = " ".join(str(c) for row in range(table.row_count) for c in table.get_row_at(row))
        assert secrets and not any(s in cells for s in secrets)
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        form.query_one("#field-number").value = "123"
        await pilot.click("#form-submit")
        await pilot.pause(0.3)
        assert "is not a phone number" in str(form.query_one("#form-error").render())


async def test_stream_drop_shows_retrying_then_catches_up_without_duplicates(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    app = console_factory()
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.stream_status.status == "live")

        async def sample() -> None:
            while True:
                if not seen or seen[-1] != app.stream_status.status:
                    seen.append(app.stream_status.status)
                if "retrying" in bar_text(app) and "bar" not in seen:
                    seen.append("bar")
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        first = sandbox.place_inbound_call()
        await until(pilot, lambda: first in app.state.board and app.state.board.get(first).event == "CDR")  # type: ignore[union-attr]
        assert sandbox.drop_stream_subscribers() >= 1
        await until(pilot, lambda: "retrying" in seen and "bar" in seen)
        second = sandbox.place_inbound_call()  # happens while the console is away
        await until(pilot, lambda: app.stream_status.status == "live", timeout=10)
        await until(pilot, lambda: second in app.state.board and app.state.board.get(second).event == "CDR", timeout=10)  # type: ignore[union-attr]
        await until(pilot, lambda: "stream live" in bar_text(app))
        row = app.state.board.get(first)
        assert row is not None and row.events.count("HANGUP") == 1 and row.events.count("CDR") == 1
        sampler.cancel()


async def test_letter_keys_do_not_apply_while_typing_a_filter(console_factory) -> None:  # type: ignore[no-untyped-def]
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "slash")
        await pilot.pause()
        screen = app.screen
        assert screen.check_action("call_back", ()) is False and app.check_action("toggle_me", ()) is False
        await pilot.press("c", "m", "q")  # typed into the filter, not actions
        await pilot.pause()
        assert screen.query_one("#filter-input").value == "cmq" and app.is_running and not app.state.view.mine_only
        await pilot.press("escape")
        await pilot.pause()
        assert app.check_action("toggle_me", ()) is True
