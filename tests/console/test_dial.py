"""Click-to-call and OTP: asks once, dials once, shows the outcome in the server's words."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from console.actions import ActionError, Actions, build_call_log_query, describe_error
from console.api.errors import BadRequest
from console.form_models import BotHangup, OtpCall
from console.screens.dial import DialScreen, OtpScreen
from console.state import ConsoleState
from sandbox.server import SandboxServer
from tests.console.conftest import SIZE, count_plans, settings_for, until


async def test_confirm_once_dials_exactly_once_and_follows_the_call(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    started = count_plans(sandbox)
    me = sandbox.account.default_agent.phone_number
    app = console_factory(agent=me)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.stream_status.status == "live" and app.actions.default_k_number is not None)
        await pilot.press("c")
        await pilot.pause()
        dial = app.screen
        assert isinstance(dial, DialScreen)
        assert dial.query_one("#dial-agent").value == me
        await pilot.press(*"9811122233")
        await pilot.press("enter")  # first press: shows what will happen, sends nothing
        await pilot.pause()
        assert dial.flow.state == "confirming" and started == []
        assert "+919811122233" in str(dial.query_one("#dial-status").render())
        assert str(dial.query_one("#dial-go").label) == "Call now"
        # An impatient double press of "Call now": one request.
        dial.action_primary()
        dial.action_primary()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: dial.flow.state == "placed")
        assert dial.flow.requests_sent == 1
        c2c = [p for p in started if p.kind == "c2c"]
        assert len(c2c) == 1 and c2c[0].customer_number == "+919811122233"
        assert "success" in str(dial.query_one("#dial-status").render()).lower() or dial.flow.outcome
        await until(pilot, lambda: "call " in str(dial.query_one("#dial-events").render()))
        await until(pilot, lambda: "ended" in str(dial.query_one("#dial-events").render()), timeout=8)
        dial.action_primary()  # pressing again after the outcome does nothing
        await pilot.pause()
        assert len([p for p in started if p.kind == "c2c"]) == 1


async def test_a_refused_call_shows_the_servers_words(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    started = count_plans(sandbox)
    app = console_factory(stream=False, agent=sandbox.account.default_agent.phone_number)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.actions.default_k_number is not None)
        app.action_dial("+919876543210")  # the sandbox's Do-Not-Call example
        await pilot.pause()
        dial = app.screen
        assert isinstance(dial, DialScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: dial.flow.state == "failed")
        status = str(dial.query_one("#dial-status").render())
        assert "Do Not Call" in status and "Traceback" not in status
        assert not [p for p in started if p.kind == "c2c"]


async def test_dial_validation_never_sends(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    started = count_plans(sandbox)
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.actions.default_k_number is not None)
        app.action_dial("not a number")
        await pilot.pause()
        dial = app.screen
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert dial.flow.state == "editing"
        assert "agent number is required" in str(dial.query_one("#dial-status").render())
        assert not started
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DialScreen)


async def test_esc_while_confirming_goes_back_to_editing(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    started = count_plans(sandbox)
    app = console_factory(stream=False, agent=sandbox.account.default_agent.phone_number)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.actions.default_k_number is not None)
        app.action_dial("9811122244")
        await pilot.pause()
        dial = app.screen
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert dial.flow.state == "confirming"
        await pilot.press("escape")
        await pilot.pause()
        assert dial.flow.state == "editing" and isinstance(app.screen, DialScreen) and not started


async def test_otp_call_from_its_modal(console_factory, sandbox: SandboxServer) -> None:  # type: ignore[no-untyped-def]
    started = count_plans(sandbox)
    app = console_factory(stream=False)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.actions.default_k_number is not None)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OtpScreen))
        otp = app.screen
        # a picker of the approved sounds, or an IVR id typed
        sounds = otp.choices("sound_id")
        assert sorted(sounds) == sorted(str(s.id) for s in sandbox.account.sounds if s.status == "1")
        ivr = next(iter(sandbox.account.ivr_flows))
        otp.query_one("#field-ivr_id").value = ivr
        otp.query_one("#field-customer_number").value = "9811122255"
        otp.action_submit()
        await until(pilot, lambda: not isinstance(app.screen, OtpScreen))
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OtpScreen))
        otp = app.screen
        otp.query_one("#field-sound_id").value = sounds[0]
        otp.query_one("#field-customer_number").value = "9811122256"
        otp.action_submit()
        await until(pilot, lambda: not isinstance(app.screen, OtpScreen))
        assert [p.kind for p in started] == ["otp", "otp"]


async def test_actions_validate_and_describe_errors(sandbox: SandboxServer) -> None:
    from console.api.client import KnowlarityClient

    settings = settings_for(sandbox)
    async with KnowlarityClient.from_settings(settings) as client:
        actions = Actions(client, ConsoleState(), settings)
        flow = actions.dial_flow()
        with pytest.raises(ActionError, match="same number"):
            flow.prepare({"k_number": "+918047100100", "agent_number": "9811100000", "customer_number": "09811100000"})
        with pytest.raises(ValidationError, match="IVR id"):
            OtpCall.model_validate({"ivr_id": "", "k_number": "+918047100100", "customer_number": "9811100000"})
        with pytest.raises(ActionError, match=r"transfer|no bot"):
            await actions.bot_hangup(BotHangup(call_id="c1"))
    assert "sandbox-sr-key" not in describe_error(BadRequest("bad key sandbox-sr-key /update-stream/sandbox-sr-key/konnect"))
    with pytest.raises(ActionError, match="maximum duration"):
        build_call_log_query({"max_duration": "ten"})
    query = build_call_log_query({"customer": "98111", "agent": "9811100000", "solution_type": "IBD", "min_duration": "5"})
    assert query.agent_number == "+919811100000" and query.solution_type == ["IBD"] and query.duration__gt == 5
