"""Account data and bot transcripts that look like markup or carry escape codes are shown
literally in every view, pop and dialog: no crash, no action, nothing hidden.

The sandbox is seeded with hostile names, call groups, roles, dispositions, campaign and
IVR names, numbers and stream events; the bot feed carries hostile call ids, callers and
transcripts. The real app (Pilot) visits every view, opens every detail dialog, clicks every
cell, and reads back what each widget shows.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rich.text import Text
from textual.widgets import DataTable, Label, Static

from console.botwatch import BusWatcher
from console.widgets.table import VimTable
from sandbox.server import SandboxServer
from tests.console.conftest import SIZE, until
from voice.bus import BotSentence, CallEnded, CallStarted, EventBus, TranscriptEvent, Transferred

CLOSE = "Sales [/EMEA]"  # before: MarkupError, the console exited with a traceback
CLICK = "[@click=app.quit]manager[/]"  # before: a cell that quit the console on one click
HIDDEN = "[wrong number]"  # before: an empty cell
ESC = "esc\x1b[2J\x1b]0;title\x07end"
HOSTILE = (CLOSE, CLICK, HIDDEN)


def seed(sandbox: SandboxServer) -> None:
    account = sandbox.account
    for agent in account.agents:
        agent.first_name, agent.last_name = CLOSE, CLICK
        agent.role = CLICK
        agent.call_groups = [CLOSE, HIDDEN, ESC]
        agent.email = f"{HIDDEN}@x.example"
    for record in account.calllog.records():
        record.disposition = HIDDEN
        record.destination = CLICK
        record.call_status = CLOSE
        record.business_call_type = ESC
        record.agent_status = CLICK
    for campaign in account.campaigns:
        campaign.ivr_name = CLOSE
        campaign.status = CLICK
        campaign.timezone = HIDDEN
    for book in account.phonebooks:
        book.name, book.description = CLOSE, CLICK
    for sound in account.sounds:
        sound.name, sound.description, sound.comment = CLICK, HIDDEN, ESC
    for task in account.tasks:
        task.type = CLICK
        task.created_by = CLOSE
        task.completed_via = HIDDEN


def shown(widget: Any) -> str:
    """The text a widget shows, read from what it renders."""
    if isinstance(widget, DataTable):
        out = []
        for row in range(widget.row_count):
            for col in range(len(widget.columns)):
                cell = widget.get_cell_at((row, col))  # type: ignore[arg-type]
                assert isinstance(cell, Text), f"a cell reached the table as {type(cell).__name__}"
                out.append(cell.plain)
        return "\n".join(out)
    return str(widget.render())


def visible_text(app: Any) -> str:
    parts = [shown(w) for w in app.screen.query("*") if isinstance(w, DataTable | Label | Static)]
    return "\n".join(parts)


def assert_literal(text: str, *needles: str) -> None:
    for needle in needles:
        assert needle in text, f"{needle!r} not shown literally"
    assert "\x1b" not in text and "\x07" not in text


async def click_every_row(pilot: Any, app: Any) -> None:
    """Click each cell of the first row of the tables on screen: a cell with an action would act."""
    for table in app.screen.query(VimTable):
        if not table.row_count or not table.region.width:
            continue
        x = 0
        for column in table.columns.values():  # the middle of each cell of the first row
            width = column.get_render_width(table)
            if x + width // 2 >= table.region.width:
                break
            await pilot.click(table, offset=(x + width // 2, 1))
            x += width
        await pilot.pause()
        assert app.is_running, "a click on a cell ran an action"
        assert not isinstance(app.screen, type(None))
        while len(app.screen_stack) > 1 and app.screen.__class__.__name__.endswith(("DetailScreen", "DialScreen")):
            await pilot.press("escape")
            await pilot.pause()


async def test_hostile_account_data_in_every_view_and_dialog(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    seed(sandbox)
    bus = EventBus()
    me = sandbox.account.default_agent.phone_number
    app = console_factory(bot=BusWatcher(bus), agent=me)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.stream_status.status == "live")
        # the live stream: an event whose every text field is hostile, and a screen pop
        sandbox.hub.publish({"uuid": "hostile-1", "event_type": "ORIGINATE", "call_direction": "Inbound",
                             "customer_number": CLOSE, "agent_number": CLICK, "business_call_type": HIDDEN,
                             "dispnumber": ESC})
        app.state.board.ingest_event("pop-x", "ORIGINATE", direction="Inbound", customer=CLICK)
        app.state.board.ingest_event("pop-x", "AGENT_CALL", direction="Inbound", customer=CLICK, agent=me)
        await until(pilot, lambda: "hostile-1" in app.state.board)
        await pilot.pause(0.5)
        assert_literal(visible_text(app), CLICK)

        for key, needles in (("2", (CLOSE, CLICK, HIDDEN)), ("3", (CLICK,)), ("4", (CLOSE,)),
                             ("6", (CLICK,)), ("7", ()), ("8", ()), ("9", (CLOSE,))):
            await pilot.press(key)
            await pilot.pause(0.3)
            table = next(iter(app.screen.query(VimTable)), None)
            if table is not None:
                await until(pilot, lambda t=table: t.row_count > 0, timeout=8)  # type: ignore[misc]
                await pilot.pause(0.3)
            assert_literal(visible_text(app), *needles)
            if key == "2":  # the role column: before, `[@click=app.quit]manager[/]` quit on a click
                await click_every_row(pilot, app)
            if table is not None:
                table.focus()
                table.move_cursor(row=0)
                await pilot.press("enter")  # the detail dialog of a hostile row
                await pilot.pause(0.5)
                text = visible_text(app)
                assert "\x1b" not in text
                if needles:
                    assert any(n in text for n in needles), f"{key}: detail shows {text[:400]!r}"
                await pilot.press("escape")
                await pilot.pause()
            assert app.is_running

        # the bot feed: hostile call ids, callers, transcripts and end reasons
        await pilot.press("5")
        for i, call_id in enumerate((CLOSE, CLICK, HIDDEN + ESC)):
            bus.publish(CallStarted(call_id=call_id, caller=CLICK, virtual_number=CLOSE))
            bus.publish(TranscriptEvent(call_id=call_id, text=f"{CLOSE} {CLICK} {HIDDEN} {ESC}", final=True))
            bus.publish(BotSentence(call_id=call_id, text=f"You said {HIDDEN} and {CLOSE}.", turn=1))
            if i == 1:
                bus.publish(Transferred(call_id=call_id, destination=CLICK))
            if i == 0:
                bus.publish(CallEnded(call_id=call_id, reason=HIDDEN))
        await until(pilot, lambda: len(app.state.bot.calls) == 3)
        await pilot.pause(0.5)
        text = visible_text(app)
        assert_literal(text, CLICK, HIDDEN)
        assert re.search(re.escape(CLOSE) + ".*" + re.escape(CLICK), text, re.S)
        await pilot.press("1")
        await pilot.pause(0.2)
        assert app.is_running
    await asyncio.sleep(0)


def test_the_one_helper_shows_text_literally_and_keeps_our_styles() -> None:
    from console.widgets.plain import plain, safe_cell, safe_text

    assert plain(CLICK).plain == CLICK and not plain(CLICK).spans
    assert plain(ESC).plain == "esc\\x1b[2J\\x1b]0;title\\x07end"
    cell = safe_cell(HIDDEN)
    assert isinstance(cell, Text) and cell.plain == HIDDEN
    styled = Text()
    styled.append("caller ", "bold")
    styled.append("a\x1bb\n", "red")
    styled.append("next line")
    out = safe_text(styled)
    assert out.plain == "caller a\\x1bb\nnext line"
    assert [(s.start, s.end, s.style) for s in out.spans] == [(0, 7, "bold"), (7, 14, "red")]
    assert safe_cell(styled).plain == "caller a\\x1bb\\nnext line"
