"""Make call / OTP call -> live events in the documented order -> CDR -> call-log record; the stream itself."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from sandbox.account import MSG_PERMISSION_NOT_ALLOWED, MSG_PERMISSION_SENT
from sandbox.calls import EVENT_ORDER
from sandbox.server import SandboxServer
from sandbox.testing import SandboxFactory, StreamRecorder
from tests.sandbox.sandbox_helpers import API, AUTH

CTI_KEYS = {"event_type", "uuid", "call_direction", "business_call_type", "agent_number", "customer_number",
            "knowlarity_number", "k_number", "call_recording", "call_type", "called"}
CDR_KEYS = {"dispnumber", "business_call_type", "caller_id", "Call_Type", "start_time", "uuid", "call_duration",
            "destination", "end_time", "resource_url", "type", "timezone_offset"}


async def make_call(client: httpx.AsyncClient, sb: SandboxServer, **body: Any) -> dict:
    payload = {"k_number": sb.account.main_number, "agent_number": sb.account.default_agent.phone_number,
               "customer_number": "+919811112222", **body}
    r = await client.post(f"{API}/call/makecall", json=payload)
    assert r.status_code == 200
    return r.json()


async def finished_call(rec: StreamRecorder, customer: str, timeout: float = 5.0) -> tuple[list[dict], dict]:
    """The events and the CDR of the call to/from `customer`."""
    first = await rec.wait_for(lambda e: e.get("event_type") == "ORIGINATE" and e["customer_number"] == customer, timeout)
    cdr = await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == first["uuid"], timeout)
    return [e for e in rec.for_call(first["uuid"]) if "event_type" in e], cdr


async def logged(client: httpx.AsyncClient, call_uuid: str) -> dict:
    for _ in range(100):
        r = await client.get(f"{API}/call/get-detailed-call-log", params={"uuid": call_uuid})
        if r.status_code == 200:
            rows = (await client.post(f"{API}/sr/calllog", json={"limit": 50})).json()["objects"]
            return next(row for row in rows if row["uuid"] == call_uuid)
        await asyncio.sleep(0.01)
    raise AssertionError(f"call {call_uuid} never reached the call log")


def is_subsequence_of_documented_order(types: list[str]) -> bool:
    positions = [EVENT_ORDER.index(t) for t in types]
    return positions == sorted(positions) and len(set(positions)) == len(positions)


async def test_make_call_events_in_documented_order_then_cdr_then_call_log(
    client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    agent = sandbox.account.default_agent.phone_number
    async with StreamRecorder(sandbox.stream_url) as rec:
        body = await make_call(client, sandbox, customer_number="9811112222")  # 10 digits are fine
        assert body == {"success": {"status": "success", "message": "Callsuccessfully placed"}}
        events, cdr = await finished_call(rec, "+919811112222")
    assert [e["event_type"] for e in events] == list(EVENT_ORDER)
    for e in events:
        assert set(e) == CTI_KEYS
        assert e["call_direction"] == "Outbound" and e["agent_number"] == agent
        assert e["knowlarity_number"] == e["k_number"] == sandbox.account.main_number
        expect_customer = None if e["event_type"] in ("AGENT_CALL", "AGENT_ANSWER") else "+919811112222"
        assert e["customer_number"] == expect_customer
    assert events[0]["business_call_type"] == "Unanswered" and events[-1]["business_call_type"] == "Outbound"
    hangup = events[-1]
    assert hangup["call_recording"].startswith(sandbox.base_url)
    assert all(e["call_recording"] is None for e in events[:-1])
    assert set(cdr) == CDR_KEYS and cdr["type"] == "CDR" and "event_type" not in cdr
    assert (cdr["Call_Type"], cdr["caller_id"], cdr["destination"]) == ("Outgoing", agent, "+919811112222")
    assert cdr["dispnumber"] == sandbox.account.main_number and cdr["business_call_type"] == "OutGoing Calls"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+05:30", cdr["start_time"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d\d\d:\d\d:\d\d\.\d{6}\+05:30", cdr["end_time"])
    assert cdr["resource_url"] == hangup["call_recording"] and cdr["timezone_offset"] == "+0530"
    record = await logged(client, hangup["uuid"])
    assert (record["call_status"], record["solution_type"], record["agent_status"], record["customer_status"]) == (
        "Connected", "C2C", "Answered", "Answered")
    assert record["duration"] == cdr["call_duration"] > 0
    assert record["recording_url"] == cdr["resource_url"]


async def test_agent_is_on_call_during_the_call(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(speed=100)
    agent = sb.account.default_agent
    async with httpx.AsyncClient(base_url=sb.base_url, headers=AUTH) as client, StreamRecorder(sb.stream_url) as rec:
        await make_call(client, sb)
        answer = await rec.wait_for(lambda e: e.get("event_type") == "AGENT_ANSWER")
        during = (await client.get(f"{API}/agent/{agent.id}")).json()["agent_status"]
        await rec.wait_for(lambda e: e.get("event_type") == "HANGUP" and e["uuid"] == answer["uuid"], timeout=15)
        after = (await client.get(f"{API}/agent/{agent.id}")).json()["agent_status"]
    assert (during, after) == ("On Call", "Available")


async def test_agent_who_is_not_available_misses_the_call(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    away = next(a for a in sandbox.account.agents if a.base_status == "Logged Out")
    async with StreamRecorder(sandbox.stream_url) as rec:
        await make_call(client, sandbox, agent_number=away.phone_number, customer_number="+919811112223")
        events, cdr = await finished_call(rec, "+919811112223")
    assert [e["event_type"] for e in events] == ["ORIGINATE", "AGENT_CALL", "HANGUP"]  # the customer is never called
    assert events[-1]["business_call_type"] == "Unanswered" and events[-1]["call_recording"] is None
    assert cdr["business_call_type"] == "Agent Missed" and cdr["resource_url"] is None
    record = await logged(client, cdr["uuid"])
    assert (record["call_status"], record["agent_status"], record["customer_status"]) == ("Missed", "Missed", "Not Dialed")


async def test_customer_who_does_not_answer(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    silent = sorted(sandbox.account.no_answer_numbers)[0]
    async with StreamRecorder(sandbox.stream_url) as rec:
        await make_call(client, sandbox, customer_number=silent)
        events, cdr = await finished_call(rec, silent)
    assert [e["event_type"] for e in events] == ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "CUSTOMER_CALL", "HANGUP"]
    assert cdr["business_call_type"] == "Customer Missed"
    record = await logged(client, cdr["uuid"])
    assert (record["call_status"], record["agent_status"], record["customer_status"]) == ("Missed", "Answered", "Missed")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"customer_number": "+919876543210"}, "Call Failed!Number 9876543210 in Do Not Callregistry."),
        ({"agent_number": "+919000055555"}, "Agent Number not register with SR account"),
        ({"k_number": "+918000000000"}, "Invalid APIKey for this SR number"),
        ({"customer_number": "12"}, "Invalid customer number."),
        ({"customer_number": ""}, "Missing required field(s): customer_number."),
        ({"caller_id": "+911111111111"}, "Invalid caller_id: it must be an active number of this account."),
        ({"channel": "Carrier pigeon"}, "Invalid channel: use Whatsapp (or PSTN, the default)."),
    ],
)
async def test_make_call_failures_answer_200_with_the_documented_error(
    client: httpx.AsyncClient, sandbox: SandboxServer, change: dict, message: str
) -> None:
    before = sandbox.hub.published
    body = await make_call(client, sandbox, **change)
    assert body == {"error": {"message": message}}
    await asyncio.sleep(0.02)
    assert sandbox.hub.published == before and not sandbox.engine.active


async def test_expired_number_cannot_place_calls(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    expired = next(n.phone_number for n in sandbox.account.numbers if n.is_expired(sandbox.engine.clock()))
    assert await make_call(client, sandbox, k_number=expired) == {"error": {"message": "Invalid APIKey for this SR number"}}


async def test_whatsapp_call_asks_permission_first(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(speed=200)  # permission arrives 10 sandbox seconds later: 50 ms
    new_customer = "+919822200001"
    async with httpx.AsyncClient(base_url=sb.base_url, headers=AUTH) as client:
        wa = {"customer_number": new_customer, "channel": "Whatsapp", "call_permission_request": "true"}
        assert await make_call(client, sb, **wa) == {"error": {"message": MSG_PERMISSION_SENT}}
        assert await make_call(client, sb, **wa) == {"error": {"message": MSG_PERMISSION_SENT}}  # not yet answered
        await asyncio.sleep(0.1)
        assert "success" in await make_call(client, sb, **wa)
        other = {"customer_number": "+919822200002", "channel": "whatsapp", "call_permission_request": False}
        assert await make_call(client, sb, **other) == {"error": {"message": MSG_PERMISSION_NOT_ALLOWED}}
        missing = await make_call(client, sb, customer_number="+919822200003", channel="Whatsapp")
        assert "call_permission_request is required" in missing["error"]["message"]
        permitted = next(c for c, t in sb.account.whatsapp_permissions.items() if t < sb.engine.clock() - 60)
        assert "success" in await make_call(client, sb, customer_number=permitted, channel="Whatsapp",
                                            call_permission_request="false")
        # PSTN ignores the permission flag
        assert "success" in await make_call(client, sb, customer_number="+919822200004", call_permission_request=True)


async def test_otp_call(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    params = {"ivr_id": "1000052520", "k_number": sandbox.account.main_number, "customer_number": "+919833300001"}
    async with StreamRecorder(sandbox.stream_url) as rec:
        r = await client.get(f"{API}/otpcall", params=params)
        body = r.json()
        assert r.status_code == 200 and set(body) == {"success"}
        assert body["success"]["message"] == "OTP call initiated successfully"
        assert body["success"]["status"] == "initiated"
        call_id = body["success"]["call_id"]
        cdr = await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == call_id)
    types = [e["event_type"] for e in rec.for_call(call_id) if "event_type" in e]
    assert types == ["ORIGINATE", "CUSTOMER_CALL", "CUSTOMER_ANSWER", "HANGUP"]
    assert all(e["agent_number"] is None for e in rec.for_call(call_id) if "event_type" in e)
    assert cdr["business_call_type"] == "Sound" and cdr["Call_Type"] == "Outgoing"
    assert (await logged(client, call_id))["action"] == "OTP"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ivr_id": ""}, "Missing required parameter(s): ivr_id."),
        ({"ivr_id": "5"}, "No approved IVR or sound with id 5."),
        ({"k_number": "+918000000000"}, "Invalid APIKey for this SR number"),
        ({"customer_number": "+919876543210"}, "Call Failed!Number 9876543210 in Do Not Callregistry."),
        ({"channel": "Whatsapp", "call_permission_request": "true"}, MSG_PERMISSION_SENT),
        ({"channel": "Whatsapp", "call_permission_request": "false"}, MSG_PERMISSION_NOT_ALLOWED),
    ],
)
async def test_otp_call_errors_are_400(client: httpx.AsyncClient, sandbox: SandboxServer, change: dict, message: str) -> None:
    params = {"ivr_id": "1", "k_number": sandbox.account.main_number, "customer_number": "+919833300002", **change}
    r = await client.get(f"{API}/otpcall", params=params)
    assert (r.status_code, r.json()) == (400, {"error": {"message": message}})


async def test_inbound_call_to_an_agent(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    async with StreamRecorder(sandbox.stream_url) as rec:
        call_uuid = sandbox.place_inbound_call(customer_number="+919844400001")
        cdr = await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == call_uuid)
    events = [e for e in rec.for_call(call_uuid) if "event_type" in e]
    assert [e["event_type"] for e in events] == ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP"]
    assert events[0]["agent_number"] is None and events[0]["customer_number"] == "+919844400001"
    assert events[1]["customer_number"] is None and events[1]["agent_number"]
    assert all(e["call_direction"] == "Inbound" for e in events) and events[-1]["business_call_type"] == "Inbound"
    assert (cdr["Call_Type"], cdr["caller_id"], cdr["business_call_type"]) == ("Incoming", "+919844400001", "Phone")
    assert cdr["destination"] == events[1]["agent_number"]


async def test_inbound_call_to_a_chosen_agent(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    me = sandbox.account.default_agent.phone_number
    away = next(a.phone_number for a in sandbox.account.agents if a.base_status == "Break")
    async with StreamRecorder(sandbox.stream_url) as rec:
        mine = sandbox.place_inbound_call(agent_number=me[3:])
        r = await client.post(f"{sandbox.base_url}/_sandbox/inbound-call", json={"agent_number": away})
        missed = r.json()["uuid"]
        for call_uuid in (mine, missed):
            await rec.wait_for(lambda e, u=call_uuid: e.get("type") == "CDR" and e["uuid"] == u)
    ring = [e for e in rec.for_call(mine) if e.get("event_type") == "AGENT_CALL"]
    assert ring[0]["agent_number"] == me and rec.for_call(mine)[-2]["event_type"] == "HANGUP"
    assert [e.get("event_type") for e in rec.for_call(missed)] == ["ORIGINATE", "AGENT_CALL", "HANGUP", None]
    assert rec.for_call(missed)[1]["agent_number"] == away
    r = await client.post(f"{sandbox.base_url}/_sandbox/inbound-call", json={"agent_number": "+919000077777"})
    assert r.status_code == 400 and "agent" in r.json()["message"]


async def test_missed_call_number_makes_a_task(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    async with StreamRecorder(sandbox.stream_url) as rec:
        r = await client.post(f"{sandbox.base_url}/_sandbox/inbound-call",
                              json={"knowlarity_number": sandbox.account.missed_call_number, "customer_number": "9844400002"})
        call_uuid = r.json()["uuid"]
        cdr = await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == call_uuid)
    events = [e for e in rec.for_call(call_uuid) if "event_type" in e]
    assert [e["event_type"] for e in events] == ["ORIGINATE", "HANGUP"]
    assert {e["business_call_type"] for e in events} == {"Missed call"} and cdr["business_call_type"] == "Missed Call"
    await logged(client, call_uuid)
    tasks = (await client.get(f"{API}/tasks", params={"phone": "+919844400002"})).json()["objects"]
    assert [(t["type"], t["callrecord_uuid"], t["is_completed"]) for t in tasks] == [("missedcall", call_uuid, False)]
    r = await client.post(f"{sandbox.base_url}/_sandbox/inbound-call", json={"knowlarity_number": "+911234567890"})
    assert r.status_code == 400


async def test_disabled_notifications_keep_a_numbers_calls_off_the_stream(
    client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    await client.put(f"{API}/notifications", json={"knowlarity_number": sandbox.account.main_number, "enable": "disable"})
    async with StreamRecorder(sandbox.stream_url) as rec:
        await make_call(client, sandbox, customer_number="+919855500001")
        await make_call(client, sandbox, k_number=sandbox.account.cli_number, customer_number="+919855500002")
        await rec.wait_for(lambda e: e.get("type") == "CDR" and e["destination"] == "+919855500002")
        while sandbox.engine.active:
            await asyncio.sleep(0.01)
    assert {e["knowlarity_number"] for e in rec.events if "event_type" in e} == {sandbox.account.cli_number}
    rows = (await client.post(f"{API}/sr/calllog", json={"customer__contains": "98555000"})).json()["objects"]
    assert {r["customer_number"] for r in rows} == {"+919855500001", "+919855500002"}  # both calls happened


# ---- the stream itself ------------------------------------------------------------------------------


async def test_wrong_stream_key_is_refused(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient() as c:
        r = await c.get(sandbox.stream_url.replace("sandbox-sr-key", "guess"))
    assert r.status_code == 401 and r.json() == {"message": "The SR API Key used toauthenticate is incorrect."}


async def test_stream_is_sse_and_serves_many_subscribers(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient() as raw:
        async with raw.stream("GET", sandbox.stream_url + "/") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
    for _ in range(200):  # a client that hangs up is unsubscribed promptly
        if sandbox.hub.subscriber_count == 0:
            break
        await asyncio.sleep(0.005)
    assert sandbox.hub.subscriber_count == 0
    async with StreamRecorder(sandbox.stream_url) as a, StreamRecorder(sandbox.stream_url) as b, \
            StreamRecorder(sandbox.stream_url) as c:
        assert sandbox.hub.subscriber_count == 3
        await make_call(client, sandbox, customer_number="+919866600001")
        for rec in (a, b, c):
            await rec.wait_for(lambda e: e.get("type") == "CDR")
        assert a.events == b.events == c.events and len(a.events) == 8


async def test_keepalive_comments_flow_when_idle(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(keepalive=0.03, history=10)
    async with StreamRecorder(sb.stream_url) as rec:
        await asyncio.sleep(0.25)
    assert rec.comments >= 4 and rec.events == []


async def test_drop_hook_cuts_every_subscriber_and_they_can_reconnect(
    client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    async with StreamRecorder(sandbox.stream_url) as one, StreamRecorder(sandbox.stream_url) as two:
        assert sandbox.drop_stream_subscribers() == 2
        for rec in (one, two):
            reason = await rec.wait_closed()
            assert reason is not None and "Error" in reason  # an abrupt break, not a clean end
    assert sandbox.hub.subscriber_count == 0
    async with StreamRecorder(sandbox.stream_url) as again:
        r = await client.post(f"{sandbox.base_url}/_sandbox/drop-stream")
        assert r.json() == {"dropped": 1}
        await again.wait_closed()
    async with StreamRecorder(sandbox.stream_url) as fresh:
        await make_call(client, sandbox, customer_number="+919866600002")
        await fresh.wait_for(lambda e: e.get("type") == "CDR")


async def test_close_ends_open_streams_and_running_calls(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(speed=1)
    async with StreamRecorder(sb.stream_url) as rec:
        sb.place_inbound_call()
        await rec.wait_for(lambda e: e.get("event_type") == "ORIGINATE")
        await sb.close()
        await rec.wait_closed()
    assert not sb.engine.active
    await sb.close()  # twice is fine
