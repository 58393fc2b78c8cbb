"""The small dialogs make typed requests: each value is checked as it enters, a bad one is
shown in the dialog (naming the field by its label) and nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from textual.widgets import Input

from console.form_models import (
    AgentNumber,
    BotSay,
    BotTransfer,
    CampaignNumbers,
    CampaignStatusChange,
    JumpTo,
    OtpCall,
    RegisterNumber,
)
from console.screens.campaigns import CampaignsScreen
from console.screens.dial import OtpScreen
from console.screens.forms import FormField, FormScreen, describe_invalid
from sandbox.server import SandboxServer
from tests.console.conftest import SIZE, ConsoleFactory, count_plans, until


def error_text(form: Any) -> str:
    return str(form.query_one("#form-error").render())


# ---- the requests themselves -------------------------------------------------------------------


def test_phone_numbers_are_normalised_where_they_enter() -> None:
    assert AgentNumber.model_validate({"agent_number": "98111 00001"}).agent_number == "+919811100001"
    assert RegisterNumber(number="08047100100").number == "+918047100100"
    for bad, why in (("abc", "it has letters"), ("123", "too few digits"), ("1" * 16, "more than 15 digits")):
        with pytest.raises(ValidationError, match=why):
            AgentNumber(agent_number=bad)


def test_an_otp_call_is_one_ivr_from_a_picked_sound_or_a_typed_id() -> None:
    form = {"k_number": "+918047100100", "customer_number": "9811100002", "channel": "Whatsapp",
            "call_permission_request": "true"}
    call = OtpCall.model_validate({**form, "sound_id": "55", "ivr_id": ""})
    assert (call.ivr_id, call.customer_number, call.whatsapp, call.call_permission_request) == (
        "55", "+919811100002", True, True)
    assert OtpCall.model_validate({**form, "sound_id": "", "ivr_id": "1000000001"}).ivr_id == "1000000001"
    with pytest.raises(ValidationError, match="not both"):
        OtpCall.model_validate({**form, "sound_id": "55", "ivr_id": "1000000001"})
    with pytest.raises(ValidationError, match="IVR id is required"):
        OtpCall.model_validate({**form, "sound_id": "", "ivr_id": ""})
    with pytest.raises(ValidationError, match="channel"):
        OtpCall.model_validate({**form, "ivr_id": "1", "channel": "SMS"})
    with pytest.raises(ValidationError):  # frozen: a request is what was checked
        call.ivr_id = "2"  # type: ignore[misc]


def test_the_other_small_requests_check_their_values() -> None:
    assert CampaignNumbers.model_validate({"order_id": "7", "numbers": "9811100001; 9811100001, 9811100002"}).numbers \
        == ("+919811100001", "+919811100002")
    with pytest.raises(ValidationError, match="abc"):
        CampaignNumbers.model_validate({"order_id": "7", "numbers": "9811100001; abc"})
    with pytest.raises(ValidationError):
        CampaignNumbers.model_validate({"order_id": "7", "numbers": ""})
    with pytest.raises(ValidationError):
        CampaignStatusChange.model_validate({"order_id": "7", "status": "delete"})
    assert BotTransfer.model_validate({"call_id": "c1", "destination": ""}).destination is None
    assert BotTransfer.model_validate({"call_id": "c1", "destination": "9811100003"}).destination == "+919811100003"
    with pytest.raises(ValidationError, match="not a phone number"):
        BotTransfer.model_validate({"call_id": "c1", "destination": "reception"})
    assert BotSay.model_validate({"call_id": "c1", "text": "  one\n moment  "}).text == "one moment"
    with pytest.raises(ValidationError, match="too long"):
        BotSay(call_id="c1", text="x" * 1001)
    assert JumpTo.model_validate({"at": "1:15"}).at == 75.0


def test_an_invalid_value_is_described_by_the_field_label() -> None:
    fields = [FormField("customer_number", "Customer"), FormField("numbers", "Numbers")]
    with pytest.raises(ValidationError) as bad:
        OtpCall.model_validate({"ivr_id": "1", "k_number": "+918047100100", "customer_number": "abc"})
    assert describe_invalid(bad.value, fields) == "Customer: “abc” is not a phone number (it has letters)"
    with pytest.raises(ValidationError) as listed:
        CampaignNumbers.model_validate({"order_id": "7", "numbers": "abc"})
    assert describe_invalid(listed.value, fields).startswith("numbers: line 1")  # its own words name the field


# ---- in the dialogs --------------------------------------------------------------------------------


async def test_the_otp_dialog_shows_a_bad_number_and_sends_nothing(console_factory: ConsoleFactory,
                                                                   sandbox: SandboxServer) -> None:
    started = count_plans(sandbox)
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.actions.default_k_number is not None)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OtpScreen))
        otp = app.screen
        assert isinstance(otp, OtpScreen)
        otp.query_one("#field-ivr_id", Input).value = "1000000001"
        otp.query_one("#field-customer_number", Input).value = "98111abc"
        otp.action_submit()
        await pilot.pause()
        assert isinstance(app.screen, OtpScreen) and otp.requests_sent == 0
        assert error_text(otp) == "Customer: “98111abc” is not a phone number (it has letters)"
        sounds = otp.choices("sound_id")
        otp.query_one("#field-sound_id").value = sounds[0]  # type: ignore[attr-defined]
        otp.query_one("#field-customer_number", Input).value = "9811100004"
        otp.action_submit()
        await pilot.pause()
        assert "not both" in error_text(otp) and otp.requests_sent == 0
        otp.query_one("#field-ivr_id", Input).value = ""
        otp.action_submit()
        await until(pilot, lambda: not isinstance(app.screen, OtpScreen))
        assert otp.requests_sent == 1
        await until(pilot, lambda: [p.kind for p in started] == ["otp"])


async def test_my_agent_number_is_checked_in_its_dialog(console_factory: ConsoleFactory) -> None:
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        app.action_set_my_number()
        await until(pilot, lambda: isinstance(app.screen, FormScreen) and bool(app.screen.query("#field-agent_number")))
        form = app.screen
        form.query_one("#field-agent_number", Input).value = "12"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form and "Agent number: “12” is not a phone number" in error_text(form)
        assert app.state.my_number is None
        form.query_one("#field-agent_number", Input).value = "98111 00009"
        await pilot.press("enter")
        await until(pilot, lambda: app.state.my_number == "+919811100009")
        assert app.state.view.mine_only


async def test_adding_numbers_to_a_campaign_shows_the_bad_line(console_factory: ConsoleFactory,
                                                               sandbox: SandboxServer) -> None:
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, CampaignsScreen)
        await until(pilot, lambda: len(screen.campaigns) == len(sandbox.account.campaigns))
        running = next(c for c in sandbox.account.campaigns if c.to_json()["order_status"] == "In Progress")
        oid = str(running.to_json()["order_id"])
        table = screen.query_one("#campaigns-table")
        table.move_cursor(row=table.get_row_index(oid))  # type: ignore[attr-defined]
        await pilot.pause()
        before = screen.campaigns[oid].item.total_calls or 0
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, FormScreen) and bool(app.screen.query("#field-numbers")))
        form = app.screen
        form.query_one("#field-numbers", Input).value = "9811100001, 98x"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form and "line 1: “98x”" in error_text(form)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert (screen.campaigns[oid].item.total_calls or 0) == before


@pytest.mark.parametrize("size", [(80, 24), (120, 35), (160, 45)])
async def test_the_fields_scroll_and_the_buttons_stay_on_screen(console_factory: ConsoleFactory,
                                                                size: tuple[int, int]) -> None:
    """At 80x24 the six-field OTP dialog used to push its error line and its buttons below the screen."""
    rows = size[1]
    app = console_factory(stream=False)
    async with app.run_test(size=size) as pilot:
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OtpScreen) and bool(app.screen.query("#form-submit")))
        otp = app.screen
        await pilot.pause()
        for selector in ("#form-error", "#form-submit", "#form-cancel"):
            region = otp.query_one(selector).region
            assert region.height > 0 and region.y + region.height <= rows, (selector, region)
        otp.query_one("#field-call_permission_request").focus()  # the last field: scrolled into view
        await pilot.pause()
        region = otp.query_one("#field-call_permission_request").region
        assert region.height > 0 and region.y + region.height <= rows
