"""Numbers, Library (phonebooks, sounds), Campaigns and orders, and the dial prerequisite,
driven through the real console against the sandbox."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Checkbox, Input, Select, Static

from console.screens.campaigns import CampaignsScreen
from console.screens.dial import DialScreen
from console.screens.library import LibraryScreen
from console.screens.numbers import NumbersScreen
from console.screens.request_form import RequestForm
from console.widgets.table import VimTable
from sandbox.server import SandboxServer
from tests.console.conftest import SIZE, until


def error_text(form) -> str:  # type: ignore[no-untyped-def]
    return str(form.query_one("#form-error", Static).render())


async def open_form(pilot, app, key: str) -> RequestForm:  # type: ignore[no-untyped-def]
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, RequestForm))
    return app.screen


async def test_numbers_circles_filters_and_buy_once(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    a = sandbox.account
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        screen = app.screen
        assert isinstance(screen, NumbersScreen)
        circles = screen.query_one("#circles-table", VimTable)
        await until(pilot, lambda: circles.row_count > 0)
        assert circles.row_count == len([c for c in a.circles if c.country == "India"])
        bought = screen.query_one("#bought-table", VimTable)
        assert bought.row_count == len(a.numbers)
        circles.move_cursor(row=circles.get_row_index("1"))
        await pilot.press("enter")
        available = screen.query_one("#available-table", VimTable)
        in_circle = [n for n in a.available if n.circle_id == 1]
        await until(pilot, lambda: available.row_count == len([n for n in in_circle if n.number_rating == 0]))
        # every rating (-1), numbers ending in the last 3 digits of one of them
        target = next(n for n in in_circle if n.number_rating != 0)
        screen.query_one("#numbers-rating", Select).value = "-1"
        screen.query_one("#numbers-match", Select).value = "ends"
        screen.query_one("#numbers-digits", Input).value = target.number[-4:]
        screen.query_one("#numbers-search", Button).press()
        await until(pilot, lambda: available.row_count >= 1 and target.number in screen.available)
        assert all(n.endswith(target.number[-4:]) for n in screen.available)
        available.focus()
        available.move_cursor(row=available.get_row_index(target.number))
        form = await open_form(pilot, app, "b")
        plan = next(p for p in a.plans if p.is_active and p.plan_type == "E")
        form.query_one("#field-user_plan_id", Select).value = str(plan.userplan_id)
        form.query_one("#field-expiry", Input).value = "2199-01-01"
        form.action_submit()
        await pilot.pause()
        assert "after the plan's" in error_text(form) and target.number not in [n.phone_number for n in a.numbers]
        form.query_one("#field-expiry", Input).value = ""  # the plan's own expiry, the latest allowed
        form.action_submit()
        await pilot.pause()
        assert "press again to buy" in error_text(form) and form.requests_sent == 0
        form.action_submit()
        form.action_submit()  # an impatient second press sends nothing more
        await until(pilot, lambda: not isinstance(app.screen, RequestForm))
        assert form.requests_sent == 1
        assert [n.phone_number for n in a.numbers].count(target.number) == 1
        await until(pilot, lambda: bought.row_count == len(a.numbers) and target.number in bought.row_keys())


async def test_library_phonebook_upload_shows_bad_lines_and_sound_states(console_factory, sandbox: SandboxServer,
                                                                         tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = sandbox.account
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("9")
        screen = app.screen
        assert isinstance(screen, LibraryScreen)
        books = screen.query_one("#phonebooks-table", VimTable)
        sounds = screen.query_one("#sounds-table", VimTable)
        await until(pilot, lambda: books.row_count == len(a.phonebooks) and sounds.row_count == len(a.sounds))
        states = {sounds.get_row(str(s.id))[2].plain for s in a.sounds}
        assert states == {"approved", "rejected", "under approval"}
        rejected = next(s for s in a.sounds if s.status == "2")
        assert rejected.comment in str(sounds.get_row(str(rejected.id))[5])
        first = a.phonebooks[0]
        assert str(books.get_row(str(first.id))[2]).strip() == str(len(first.numbers))
        # a typed list with a bad line: shown, left out, then the good numbers go
        form = await open_form(pilot, app, "u")
        form.query_one("#field-name", Input).value = "phonebook_1"
        form.query_one("#field-numbers", Input).value = "9811100001; abc; 98111 00002; 9811100001"
        form.action_submit()
        await pilot.pause()
        shown = error_text(form)
        assert "2 numbers" in shown and "1 duplicate" in shown and "“abc” has letters" in shown
        form.action_submit()
        await until(pilot, lambda: any(p.name == "phonebook_1" for p in a.phonebooks))
        book = next(p for p in a.phonebooks if p.name == "phonebook_1")
        assert book.numbers == ["+919811100001", "+919811100002"] and book.invalid_count == 0
        await until(pilot, lambda: books.row_count == len(a.phonebooks))
        # a CSV file with a header and a bad row
        csv_file = tmp_path / "leads.csv"
        csv_file.write_text("name,phone\nAsha,9811100011\nRavi,+91 98111 00012\nBad,12\n", encoding="utf-8")
        form = await open_form(pilot, app, "u")
        form.query_one("#field-name", Input).value = "CSV leads"
        form.query_one("#field-file", Input).value = str(csv_file)
        form.action_submit()
        await pilot.pause()
        assert "line 4: “12” is too short" in error_text(form)
        form.action_submit()
        await until(pilot, lambda: any(p.name == "CSV leads" for p in a.phonebooks))
        assert next(p for p in a.phonebooks if p.name == "CSV leads").numbers == ["+919811100011", "+919811100012"]
        # a sound by URL: only mp3 or wav
        form = await open_form(pilot, app, "a")
        form.query_one("#field-url", Input).value = "https://cdn.example.com/hello.ogg"
        form.action_submit()
        await pilot.pause()
        assert "mp3 or wav" in error_text(form) and len(a.sounds) == 6
        form.query_one("#field-url", Input).value = "https://cdn.example.com/hello.mp3"
        form.action_submit()
        await until(pilot, lambda: len(a.sounds) == 7)
        await until(pilot, lambda: sounds.row_count == 7)
        assert sounds.get_row(str(a.sounds[-1].id))[2].plain == "under approval" and a.sounds[-1].name == "hello.mp3"


async def test_campaign_form_every_field_pickers_filters_orders(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    a = sandbox.account
    sandbox.api.page_size = 3  # more campaigns than one page: the view reads them all
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, CampaignsScreen)
        table = screen.query_one("#campaigns-table", VimTable)
        await until(pilot, lambda: table.row_count == len(a.campaigns))
        # actions only where the docs allow them
        done = next(c for c in a.campaigns if c.status == "Completed")
        table.move_cursor(row=table.get_row_index(str(done.order_id)))
        await pilot.pause()
        assert screen.check_action("add_numbers", ()) is False and screen.check_action("set_status", ("pause",)) is False
        paused = next((c for c in a.campaigns if c.status == "Paused"), None)
        if paused is not None:
            table.move_cursor(row=table.get_row_index(str(paused.order_id)))
            await pilot.pause()
            assert screen.check_action("add_numbers", ()) is False and screen.check_action("set_status", ("resume",))
        # the create form: pickers of approved sounds and phonebooks, every documented field
        form = await open_form(pilot, app, "n")
        sound_values = form.choices("sound_id")
        assert sorted(sound_values) == sorted(str(s.id) for s in a.sounds if s.status == "1")
        book_values = form.choices("phonebook")
        assert sorted(book_values) == sorted(str(p.id) for p in a.phonebooks)
        form.query_one("#field-sound_id", Select).value = "4"
        form.query_one("#field-phonebook", Select).value = "2"
        form.query_one("#field-additional_number", Input).value = "9811100091"
        form.query_one("#field-start_time", Input).value = "2099-01-05 10:30"
        form.query_one("#field-end_time", Input).value = "2099-01-09 18:00"
        form.query_one("#field-priority", Input).value = "7"
        form.query_one("#field-order_throttling", Input).value = "4"
        form.query_one("#field-retry_duration", Input).value = "20"
        form.query_one("#field-max_retry", Input).value = "2"
        form.query_one("#field-sat", Checkbox).value = True
        form.query_one("#field-mon", Checkbox).value = False
        form.query_one("#field-call_scheduling_start_time", Input).value = "10:00"
        form.query_one("#field-call_scheduling_stop_time", Input).value = "19:30"
        form.query_one("#field-is_transactional", Checkbox).value = True
        count = len(a.campaigns)
        form.action_submit()
        await pilot.pause()
        assert "press again" in error_text(form) and len(a.campaigns) == count
        form.action_submit()
        await until(pilot, lambda: len(a.campaigns) == count + 1)
        c = a.campaigns[-1]
        assert (c.ivr_id, c.phonebook_id, c.priority, c.throttling, c.retry_duration, c.max_retry) == ("4", "2", 7, 4, 20, 2)
        assert c.call_scheduling == "[0, 1, 1, 1, 1, 1, 0]" and c.is_transactional
        assert (c.schedule_start, c.schedule_stop) == ("10:00:00 +0530", "19:30:00 +0530")
        assert "+919811100091" in c.numbers and c.end is not None
        await until(pilot, lambda: table.row_count == len(a.campaigns))
        # the documented filters
        form = await open_form(pilot, app, "f")
        form.query_one("#field-is_transactional", Select).value = "true"
        form.query_one("#field-start_from", Input).value = "2099-01-01"
        form.action_submit()
        await until(pilot, lambda: table.row_count == 1 and str(c.order_id) in table.row_keys())
        assert "transactional" in str(screen.query_one("#campaigns-title").render())
        form = await open_form(pilot, app, "f")
        for name in ("start_from",):
            form.query_one(f"#field-{name}", Input).value = ""
        form.query_one("#field-is_transactional", Select).value = ""
        form.action_submit()
        await until(pilot, lambda: table.row_count == len(a.campaigns))
        # a call-center order: Ivr_disp_num, user_plan_id, outbound_callcenter
        form = await open_form(pilot, app, "O")
        form.query_one("#field-sound_id", Select).value = ""
        form.query_one("#field-ivr_id", Input).value = "1000052521"
        form.query_one("#field-additional_number", Input).value = "9811100092"
        form.query_one("#field-start_time", Input).value = "2099-02-01 10:00"
        form.query_one("#field-ivr_disp_num", Input).value = a.main_number
        form.query_one("#field-user_plan_id", Select).value = "407890"
        form.action_submit()
        await pilot.pause()
        form.action_submit()
        await until(pilot, lambda: len(a.campaigns) == count + 2)
        order = a.campaigns[-1]
        assert order.outbound_callcenter and order.ivr_id == "1000052521" and order.status == "Pending"
        await until(pilot, lambda: str(order.order_id) in table.row_keys())
        table.move_cursor(row=table.get_row_index(str(order.order_id)))
        await pilot.pause()
        form = await open_form(pilot, app, "A")
        form.query_one("#field-numbers", Input).value = "9811100093"
        form.query_one("#field-call_times_retry", Input).value = "3"
        form.query_one("#field-retry_timedelta", Input).value = "1"
        form.action_submit()
        await until(pilot, lambda: "+919811100093" in order.numbers)


async def test_dial_checks_the_sr_number_is_registered_first(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    a = sandbox.account
    reg = next(r for r in a.registrations if r.k_number == a.main_number)
    reg.enable = False
    started = sandbox.engine.completed + len(sandbox.engine.active)
    app = console_factory(stream=False, agent=a.default_agent.phone_number)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, DialScreen))
        dial = app.screen
        dial.query_one("#dial-customer", Input).value = "+919811100099"
        dial.query_one("#dial-knumber", Input).value = a.main_number
        dial.action_primary()
        await pilot.pause()
        dial.action_primary()
        status = dial.query_one("#dial-status", Static)
        await until(pilot, lambda: dial.flow.state == "failed")
        await pilot.pause()
        text = str(status.render())
        assert "disabled" in text and "Account view" in text and dial.flow.requests_sent == 0
    reg.enable = True
    flow = app.actions.dial_flow()
    flow.prepare({"k_number": a.main_number, "agent_number": "+911234500000", "customer_number": "+919811100099"})
    await flow.place()
    assert flow.state == "failed" and "Allowed agents only" in flow.outcome and flow.requests_sent == 1
    assert sandbox.engine.completed + len(sandbox.engine.active) == started
