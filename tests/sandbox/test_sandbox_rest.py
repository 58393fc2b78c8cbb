"""Every REST endpoint of the sandbox over real loopback HTTP, against the documented shapes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox import formats as fmt
from sandbox.account import (
    MAIN_NUMBER,
    MSG_BAD_COUNTRY,
    MSG_BAD_INPUT,
    MSG_BAD_SR_KEY,
    MSG_BOUGHT,
    MSG_NO_INPUT,
    MSG_NOTIFY_AUTH,
)
from sandbox.server import SandboxServer
from tests.sandbox.sandbox_helpers import API, AUTH, META_KEYS

UTC_PLAIN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$")
UTC_LOST_SPACE = re.compile(r"^\d{4}-\d\d-\d\d\d\d:\d\d:\d\d\+00:00$")
RFC_MONTH_YEAR_JOINED = re.compile(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2}\d{4} \d\d:\d\d:\d\d \+0530$")
RFC_YEAR_TIME_JOINED = re.compile(r"^[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4}\d\d:\d\d:\d\d \+0530$")


def in_days(days: float) -> str:
    return (datetime.now(fmt.UTC) + timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def local_in_days(days: float) -> str:
    return (datetime.now(fmt.IST) + timedelta(days=days)).strftime("%Y-%m-%d %H:%M")


def assert_meta(body: dict, *, limit: int = 1000) -> None:
    assert set(body) == {"meta", "objects"}
    meta = body["meta"]
    assert set(meta) == META_KEYS
    assert meta["limit"] == limit


# ---- paths, channels, auth -------------------------------------------------------------------

GET_PATHS = [
    "numbers", "numbers/Circle", "numbers/AvailablePhoneNumbers?circle_id=1", "plans", "contacts/phonebook",
    "sound", "call/campaign", "agent", "tasks", "notifications",
]


@pytest.mark.parametrize("path", GET_PATHS)
async def test_every_get_endpoint_with_and_without_trailing_slash(client: httpx.AsyncClient, path: str) -> None:
    base, _, query = path.partition("?")
    query = f"?{query}" if query else ""
    plain = await client.get(f"{API}/{base}{query}")
    slash = await client.get(f"{API}/{base}/{query}")
    assert plain.status_code == 200, plain.text
    assert slash.status_code == 200, slash.text
    assert plain.json() == slash.json()


@pytest.mark.parametrize("channel", ["Basic", "basic", "ADVANCE", "Premium", "enterprise", "test"])
async def test_channel_in_path_any_case(client: httpx.AsyncClient, channel: str) -> None:
    r = await client.get(f"/{channel}/v1/account/agent")
    assert r.status_code == 200
    assert isinstance(r.json(), list)


async def test_unknown_channel_is_a_clear_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/Gold/v1/account/agent")
    assert r.status_code == 404
    assert "Unknown channel 'Gold'" in r.json()["message"]


async def test_missing_or_wrong_application_key_is_forbidden(anon: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": AUTH["Authorization"]}, {**AUTH, "x-api-key": "nope"}):
        r = await anon.get(f"{API}/numbers", headers=headers)
        assert r.status_code == 403
        assert r.json() == {"message": "Forbidden"}


async def test_wrong_sr_key_gets_each_endpoints_documented_answer(anon: httpx.AsyncClient) -> None:
    bad = {**AUTH, "Authorization": "not-the-key"}
    r = await anon.get(f"{API}/numbers", headers=bad)
    assert (r.status_code, r.json()) == (401, {"message": MSG_BAD_SR_KEY})
    r = await anon.get(f"{API}/numbers/Circle", headers={"x-api-key": AUTH["x-api-key"]})  # missing
    assert (r.status_code, r.json()) == (401, {"message": "The SR API Key used toauthenticate is incorrect."})
    r = await anon.get("/Basic/account/plans", headers=bad)
    assert (r.status_code, r.json()) == (401, {"error": MSG_BAD_SR_KEY})
    r = await anon.post(f"{API}/call/makecall", headers=bad, json={})
    assert (r.status_code, r.json()) == (200, {"error": {"message": "Invalid APIKey for this SR number"}})
    r = await anon.put(f"{API}/notifications", headers=bad, json={})
    assert (r.status_code, r.json()) == (401, {"message": MSG_NOTIFY_AUTH})


async def test_username_forms_are_accepted_exactly_where_documented(anon: httpx.AsyncClient) -> None:
    user_sr = {"Authorization": f"sandbox:{AUTH['Authorization']}", "x-api-key": AUTH["x-api-key"]}
    user_app = {"Authorization": AUTH["Authorization"], "x-api-key": f"sandbox:{AUTH['x-api-key']}"}
    for path in ("/tasks", "/plans", "/numbers/AvailablePhoneNumbers?circle_id=1"):  # Authorization: USERNAME:SR_API_KEY
        assert (await anon.get(f"{API}{path}", headers=user_sr)).status_code == 200, path
        assert (await anon.get(f"{API}{path}", headers=user_app)).status_code == 403, path
    r = await anon.get("/Basic/account/plans", headers=user_sr)
    assert r.status_code == 200
    assert (await anon.get(f"{API}/agent", headers=user_app)).status_code == 200  # x-api-key: USERNAME:KEY
    r = await anon.get(f"{API}/agent", headers=user_sr)
    assert (r.status_code, r.json()) == (401, {"message": MSG_BAD_SR_KEY})
    for path in ("/numbers", "/sound", "/notifications"):  # documented with bare keys only
        r = await anon.get(f"{API}{path}", headers=user_sr)
        assert r.status_code == 401, path
    wrong_user = {**user_sr, "Authorization": f"someone:{AUTH['Authorization']}"}
    assert (await anon.get(f"{API}/tasks", headers=wrong_user)).status_code == 401
    assert (await anon.get(f"{API}/tasks", headers=AUTH)).status_code == 200  # bare keys work everywhere


async def test_channel_header_must_name_the_paths_channel(anon: httpx.AsyncClient) -> None:
    assert (await anon.get(f"{API}/tasks", headers={**AUTH, "channel": "basic"})).status_code == 200
    r = await anon.get(f"{API}/tasks", headers={**AUTH, "channel": "Premium"})
    assert r.status_code == 400 and "does not match" in r.json()["message"]


async def test_unknown_path_and_method_answer_json(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{API}/nothing-here")
    assert r.status_code == 404 and "Not Found" in r.json()["message"]
    r = await client.delete(f"{API}/numbers")
    assert r.status_code == 405 and "GET" in r.json()["message"]


async def test_malformed_json_is_a_400_never_a_crash(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{API}/sound", content=b"{not json")
    assert (r.status_code, r.json()) == (400, {"message": "Malformed JSON body."})
    r = await client.post(f"{API}/sound", content=b"[1, 2]")
    assert r.status_code == 400
    r = await client.post(f"{API}/call/makecall", content=b"{")
    assert (r.status_code, r.json()) == (200, {"error": {"message": "Malformed JSON body."}})


# ---- numbers, circles, plans -----------------------------------------------------------------


async def test_bought_numbers_match_the_sample(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    body = (await client.get(f"{API}/numbers/")).json()
    assert_meta(body)
    assert body["meta"]["next"] == "" and body["meta"]["offset"] == 0
    assert body["meta"]["total_count"] == len(body["objects"])
    keys = {"cli_type", "created_time", "expiry_time", "is_expired", "number_type", "phone_number", "number_rating"}
    for row in body["objects"]:
        assert set(row) == keys
        assert UTC_PLAIN.match(row["created_time"]) and UTC_PLAIN.match(row["expiry_time"])
        assert row["number_type"] == "1" and row["number_rating"] == -1
    assert {True, False} == {row["is_expired"] for row in body["objects"]}
    numbers = {row["phone_number"] for row in body["objects"]}
    a = sandbox.account
    assert {a.main_number, a.missed_call_number, a.bot_number, a.cli_number} <= numbers
    only = (await client.get(f"{API}/numbers", params={"number": a.bot_number})).json()["objects"]
    assert [row["phone_number"] for row in only] == [a.bot_number]


async def test_circles(client: httpx.AsyncClient) -> None:
    india = (await client.get(f"{API}/numbers/Circle")).json()
    assert {"city": "Andhra Pradesh", "id": 3} in india
    assert all(set(c) == {"city", "id"} for c in india)
    uk = (await client.get(f"{API}/numbers/Circle", params={"country": "uk"})).json()
    assert {c["city"] for c in uk} == {"London", "Manchester"}
    r = await client.get(f"{API}/numbers/Circle", params={"country": "Atlantis"})
    assert (r.status_code, r.json()) == (400, {"message": MSG_BAD_COUNTRY})


@pytest.mark.parametrize("path", ["/Basic/account/plans", "/Basic/v1/account/plans/"])
async def test_plans_match_the_sample(client: httpx.AsyncClient, path: str) -> None:
    body = (await client.get(path)).json()
    assert_meta(body)
    for plan in body["objects"]:
        assert set(plan) == {"userplan_id", "plan_name", "is_active", "created_date", "expiry_time", "plan_type"}
        assert plan["is_active"] in ("true", "false")
        assert UTC_PLAIN.match(plan["created_date"]) and UTC_LOST_SPACE.match(plan["expiry_time"])
    assert {p["plan_type"] for p in body["objects"]} >= {"E", "P", "D"}
    only_e = (await client.get(path, params={"plan_type": "E"})).json()["objects"]
    assert [p["plan_type"] for p in only_e] == ["E"]


async def test_available_numbers_and_their_filters(client: httpx.AsyncClient) -> None:
    url = f"{API}/numbers/AvailablePhoneNumbers"
    regular = (await client.get(url, params={"circle_id": "1"})).json()
    assert set(regular) == {"numbers"} and regular["numbers"]
    for n in regular["numbers"]:
        assert set(n) == {"number_type", "number_rating", "circle_id", "number", "provider_name"}
        assert n["circle_id"] == 1 and n["number_rating"] == 0
    every = (await client.get(url, params={"circle_id": 1, "number_rating": -1})).json()["numbers"]
    assert len(every) > len(regular["numbers"]) and {n["number_rating"] for n in every} != {0}
    toll = (await client.get(url, params={"circle_id": 1, "number_rating": -1, "number_type": "tollfree"})).json()
    assert toll["numbers"] and all(n["number_type"] == "TOLLFREE" for n in toll["numbers"])
    sample = every[0]["number"]
    for pattern in ("^" + sample[:6], sample[-4:] + "$", sample[5:9]):
        found = (await client.get(url, params={"circle_id": 1, "number_rating": -1, "pattern": pattern})).json()
        assert sample in [n["number"] for n in found["numbers"]], pattern
    r = await client.get(url)
    assert (r.status_code, r.json()) == (400, {"message": MSG_NO_INPUT})
    r = await client.get(url, params={"circle_id": "abc"})
    assert r.status_code == 400 and r.json()["message"] == MSG_BAD_INPUT


async def test_buy_moves_a_number_from_available_to_bought(client: httpx.AsyncClient) -> None:
    url = f"{API}/numbers/AvailablePhoneNumbers"
    number = (await client.get(url, params={"circle_id": 4})).json()["numbers"][0]["number"]
    r = await client.post(f"{API}/numbers", json={"user_plan_id": "407890", "expiry_time": in_days(30), "number": number})
    assert (r.status_code, r.json()) == (200, {"message": MSG_BOUGHT, "Number": number})
    bought = (await client.get(f"{API}/numbers")).json()["objects"]
    row = next(b for b in bought if b["phone_number"] == number)
    assert row["is_expired"] is False
    still = (await client.get(url, params={"circle_id": 4, "number_rating": -1})).json()["numbers"]
    assert number not in [n["number"] for n in still]
    again = await client.post(f"{API}/numbers", json={"user_plan_id": 407890, "expiry_time": in_days(30), "number": number})
    assert again.status_code == 400 and again.json()["message"] == MSG_BAD_INPUT
    assert "not available" in again.json()["detail"]


async def test_buy_rejects_bad_input_with_the_documented_bodies(client: httpx.AsyncClient) -> None:
    url = f"{API}/numbers/AvailablePhoneNumbers"
    number = (await client.get(url, params={"circle_id": 5})).json()["numbers"][0]["number"]
    r = await client.post(f"{API}/numbers", json={})
    assert (r.status_code, r.json()) == (400, {"message": MSG_NO_INPUT})
    cases = [
        {"user_plan_id": 407892, "expiry_time": in_days(30), "number": number},  # expired demo plan
        {"user_plan_id": 407890, "expiry_time": in_days(-1), "number": number},  # expiry in the past
        {"user_plan_id": 407890, "expiry_time": in_days(5000), "number": number},  # after the plan's expiry
        {"user_plan_id": 407890, "expiry_time": "soon", "number": number},
        {"user_plan_id": 407890, "number": number},
    ]
    for body in cases:
        r = await client.post(f"{API}/numbers", json=body)
        assert r.status_code == 400 and r.json()["message"] == MSG_BAD_INPUT, body
    # the documentation's own lost-space date works
    lost_space = (datetime.now(fmt.UTC) + timedelta(days=9)).strftime("%Y-%m-%d%H:%M:%S")
    r = await client.post(f"{API}/numbers", json={"user_plan_id": 407890, "expiry_time": lost_space, "number": number})
    assert r.status_code == 200


# ---- phonebooks and sounds -----------------------------------------------------------------------


async def test_phonebooks_list_and_upload(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    body = (await client.get(f"{API}/contacts/phonebook/")).json()
    assert_meta(body)
    keys = {"description", "duplicates_count", "id", "invalid_count", "ndnc_count", "phonebookfile", "phonebookname",
            "row_count", "timestamp"}
    for book in body["objects"]:
        assert set(book) == keys and RFC_MONTH_YEAR_JOINED.match(book["timestamp"])
    dnc = "+919876543210"
    r = await client.post(f"{API}/contacts/phonebook",
                          json={"phonebookname": "Walk-ins", "numbers": f"+919811100001;9811100002;{dnc};+919811100001;oops"})
    assert r.status_code == 200
    created = r.json()
    assert created["msg"] == ["Successfully added phonebook"] and isinstance(created["id"], int)
    book = next(b for b in (await client.get(f"{API}/contacts/phonebook")).json()["objects"] if b["id"] == created["id"])
    assert (book["row_count"], book["ndnc_count"], book["duplicates_count"], book["invalid_count"]) == (2, 1, 1, 1)
    csv = await client.get(book["phonebookfile"])
    assert csv.status_code == 200 and "+919811100002" in csv.text
    r = await client.post(f"{API}/contacts/phonebook", json={"phonebookname": "Walk-ins", "numbers": "+919811100003"})
    assert r.status_code == 400 and "already exists" in r.json()["message"]
    r = await client.post(f"{API}/contacts/phonebook", json={"numbers": "+919811100003"})
    assert r.status_code == 400 and "phonebookname" in r.json()["message"]


async def test_sounds_list_and_upload(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{API}/sound")).json()
    assert_meta(body)
    keys = {"comment", "date", "description", "id", "language", "soundfile", "soundname", "status"}
    for sound in body["objects"]:
        assert set(sound) == keys and RFC_YEAR_TIME_JOINED.match(sound["date"])
        assert isinstance(sound["id"], str)
    assert {s["status"] for s in body["objects"]} == {"0", "1", "2"}
    r = await client.post(f"{API}/sound/", json={"soundname": "hello", "soundfile": "https://cdn.example/hello.wav",
                                                 "language": "English", "description": "Testing"})
    created = r.json()
    assert r.status_code == 200 and created["msg"] == ["Successfully added sound"] and created["status"] == "0"
    listed = (await client.get(f"{API}/sound")).json()["objects"]
    assert {"id": str(created["id"]), "status": "0"}.items() <= next(s for s in listed if s["soundname"] == "hello").items()
    r = await client.post(f"{API}/sound", json={"soundname": "x", "soundfile": "file:///etc/passwd"})
    assert r.status_code == 400 and "mp3 or wav" in r.json()["message"]


# ---- campaigns and orders -----------------------------------------------------------------------------

CAMPAIGN_KEYS = {
    "additional_number", "call_scheduling", "call_scheduling_start_time", "call_scheduling_stop_time", "caller_id",
    "created_time", "end_time", "is_transactional", "ivr", "ivr_id", "ndnc_count", "optin_key", "order_id",
    "order_status", "order_throttling", "phonebook_id", "priority", "retry_duration", "start_time", "max_retry",
    "timezone", "total_calls",
}


async def campaign_row(client: httpx.AsyncClient, order_id: int | str) -> dict:
    rows = (await client.get(f"{API}/call/campaign", params={"order_id": str(order_id)})).json()["objects"]
    assert len(rows) == 1
    return rows[0]


async def test_campaigns_list_in_every_state(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{API}/call/campaign")).json()
    assert_meta(body)
    for row in body["objects"]:
        assert set(row) == CAMPAIGN_KEYS
        assert RFC_MONTH_YEAR_JOINED.match(row["created_time"]) and RFC_MONTH_YEAR_JOINED.match(row["start_time"])
        assert isinstance(row["order_id"], str) and row["is_transactional"] in ("True", "False")
        assert re.fullmatch(r"\d+/\d+", row["order_throttling"])
        assert re.fullmatch(r"\[[01](, [01]){6}\]", row["call_scheduling"])
    assert {r["order_status"] for r in body["objects"]} == {"Pending", "In Progress", "Paused", "Stopped", "Completed"}


async def test_campaign_filters(client: httpx.AsyncClient) -> None:
    url = f"{API}/call/campaign"
    future = (await client.get(url, params={"start_time__gt": local_in_days(1)})).json()["objects"]
    assert future and all(r["order_status"] == "Pending" for r in future)
    past = (await client.get(url, params={"start_time__lt": local_in_days(0)[:10]})).json()["objects"]
    assert past and not {r["order_id"] for r in past} & {r["order_id"] for r in future}
    tx = (await client.get(url, params={"is_transactional": "True"})).json()["objects"]
    assert tx and all(r["is_transactional"] == "True" for r in tx)
    by_sound = (await client.get(url, params={"ivr_id": "3"})).json()["objects"]
    assert by_sound and all(r["ivr_id"] == "3" for r in by_sound)
    by_book = (await client.get(url, params={"phonebook_id": "2"})).json()["objects"]
    assert by_book and all(r["phonebook_id"] == "2" for r in by_book)
    r = await client.get(url, params={"created_time__gte": "last week"})
    assert r.status_code == 400 and "created_time__gte" in r.json()["message"]


async def test_create_campaign_then_pause_resume_stop(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    body = {
        "sound_id": 1, "phonebook": 1, "timezone": "Asia/Kolkata", "priority": 10, "order_throttling": 10,
        "retry_duration": 15, "start_time": local_in_days(2), "max_retry": 1, "call_scheduling": "[1, 1, 1, 1,1, 0, 0]",
        "call_scheduling_start_time": "09:00", "call_scheduling_stop_time": "21:00",
        "k_number": sandbox.account.main_number, "additional_number": "+919811100011;+919811100012",
    }
    r = await client.post(f"{API}/call/campaign", json=body)
    created = r.json()
    assert r.status_code == 200 and set(created) == {"order_id", "result", "status_code"}
    assert (created["result"], created["status_code"]) == ("placed ordersuccessfully", 1)
    oid = created["order_id"]
    row = await campaign_row(client, oid)
    assert row["order_status"] == "Pending" and row["call_scheduling_start_time"] == "09:00:00 +0530"
    assert row["additional_number"] == "+919811100011;+919811100012"

    async def put(status: str, path: str | None = None, **extra: object) -> httpx.Response:
        return await client.put(path or f"{API}/call/campaign/{oid}", json={"status": status, **extra})

    r = await put("pause")
    assert (r.status_code, r.json()) == (200, {"message": "Campaign pausedsuccessfully!"})
    assert (await campaign_row(client, oid))["order_status"] == "Paused"
    r = await put("pause")
    assert r.status_code == 400 and "Paused" in r.json()["message"]
    r = await put("resume", f"{API}/call/campaign", order_id=oid)  # the id in the body works too
    assert r.json() == {"message": "Campaign resumedsuccessfully!"}
    assert (await campaign_row(client, oid))["order_status"] == "Pending"  # its start time has not come
    r = await put("stop")
    assert r.json() == {"message": "Campaign stoppedsuccessfully!"}
    r = await put("resume")
    assert r.status_code == 400 and "Stopped" in r.json()["message"]
    r = await put("explode")
    assert r.status_code == 400
    r = await client.put(f"{API}/call/campaign/99999", json={"status": "stop"})
    assert r.status_code == 404


async def test_campaign_that_has_started_runs(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    body = {"ivr_id": 2, "timezone": "Asia/Kolkata", "start_time": "2017-04-1118:26",  # the docs' lost-space date
            "k_number": sandbox.account.main_number, "additional_number": "+919811100021", "is_transactional": "maybe"}
    oid = (await client.post(f"{API}/call/campaign", json=body)).json()["order_id"]
    row = await campaign_row(client, oid)
    assert row["order_status"] == "In Progress" and row["is_transactional"] == "False"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sound_id": 5}, "not approved"),  # rejected sound
        ({"sound_id": 6}, "not approved"),  # still under approval
        ({"sound_id": 424242}, "No approved sound"),
        ({"timezone": ""}, "timezone"),
        ({"start_time": "tomorrow"}, "date"),
        ({"k_number": "+919999999999"}, "k_number"),
        ({"additional_number": "", "phonebook": ""}, "phonebook or additional_number"),
        ({"priority": 11}, "priority"),
        ({"call_scheduling": "[1, 1]"}, "call_scheduling"),
    ],
)
async def test_create_campaign_rejects_bad_input(
    client: httpx.AsyncClient, sandbox: SandboxServer, change: dict, expected: str
) -> None:
    body = {"sound_id": 1, "timezone": "Asia/Kolkata", "start_time": local_in_days(1),
            "k_number": sandbox.account.main_number, "additional_number": "+919811100031", **change}
    r = await client.post(f"{API}/call/campaign", json=body)
    assert r.status_code == 400 and expected in r.json()["message"]


async def test_add_numbers_grows_a_campaign(client: httpx.AsyncClient) -> None:
    before = (await campaign_row(client, 174))["total_calls"]
    r = await client.post("/test/v1/account/call/campaign/add-numbers/", json={"order_id": 174, "phone_numbers": "+917000000689"})
    body = r.json()
    assert r.status_code == 200 and body["message"] == "call addedsuccessfully" and body["dnd_count"] == "0"
    assert len(body["sivr_call_ids"]) == 1
    r = await client.post(f"{API}/call/campaign/add-numbers", json={"order_id": 174, "additional_number": "+919876543210;+917000000690"})
    assert r.json()["dnd_count"] == "1" and len(r.json()["sivr_call_ids"]) == 1
    assert (await campaign_row(client, 174))["total_calls"] == before + 2
    r = await client.post(f"{API}/call/campaign/add-numbers", json={"order_id": 170, "phone_numbers": "+917000000691"})
    assert r.status_code == 400 and "Completed" in r.json()["message"]
    r = await client.post(f"{API}/call/campaign/add-numbers", json={"order_id": 170})
    assert r.status_code == 400


async def test_call_center_order_and_add_call(client: httpx.AsyncClient) -> None:
    order = {
        "ivr_id": "1000052521", "additional_number": "+919911100589", "timezone": "Asia/Kolkata", "priority": 10,
        "order-throttling": 2, "start_time": local_in_days(-0.01), "call_scheduling_start_time": "09:00",
        "call_scheduling_stop_time": "23:00", "is_transactional": 1, "user_plan_id": 407890, "outbound_callcenter": 1,
        "call_scheduling": [1, 1, 1, 1, 1, 1, 1], "end_time": local_in_days(1),
    }
    r = await client.post(f"{API}/call-center/create_order/", json=order)
    assert r.status_code == 400 and "Ivr_disp_num is a mandatory parameter" in r.json()["message"]
    r = await client.post(f"{API}/call-center/create_order/", json={**order, "Ivr_disp_num": "+911100000000"})
    assert r.status_code == 400 and "active SR number" in r.json()["message"]
    r = await client.post(f"{API}/call-center/create_order/", json={**order, "Ivr_disp_num": MAIN_NUMBER,
                                                                    "user_plan_id": 1})
    assert r.status_code == 400 and "No plan" in r.json()["message"]
    r = await client.post(f"{API}/call-center/create_order/", json={**order, "Ivr_disp_num": MAIN_NUMBER})
    assert r.json()["result"] == "placed ordersuccessfully"
    oid = r.json()["order_id"]
    r = await client.put(f"{API}/call-center/add_call_to_order",
                         json={"order_id": oid, "phone_numbers": "+919191100466", "call_times_retry": 3, "retry_timedelta": 1})
    assert (r.status_code, r.json()) == (200, {"result": "call addedsuccessfully", "status_code": 1})
    row = await campaign_row(client, oid)
    assert row["total_calls"] == 2 and row["is_transactional"] == "True"


# ---- agents, tasks, notifications ---------------------------------------------------------------------


async def test_agents_list_and_detail(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    agents = (await client.get(f"{API}/agent")).json()
    assert isinstance(agents, list) and len(agents) == 12
    documented = {"agent_status", "call_groups", "callcenter_role", "first_name", "id", "last_name"}
    for agent in agents:
        assert documented <= set(agent)
        assert re.fullmatch(r"\+91[6-9]\d{9}", agent["phone_number"])
    assert {a["agent_status"] for a in agents} >= {"Available", "Logged Out", "Busy", "Break"}
    assert {a["callcenter_role"] for a in agents} == {"owner", "manager", "agent"}
    owner = agents[0]
    assert owner["call_groups"] == []
    detail = (await client.get(f"{API}/agent/{owner['id']}")).json()
    assert detail["call_groups"] == ["-"] and detail["first_name"] == owner["first_name"]
    r = await client.get(f"{API}/agent/1")
    assert r.status_code == 404


async def test_tasks_list_and_detail(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"{API}/tasks")).json()
    assert_meta(body)
    meta = body["meta"]
    assert meta["offset"] == "0" and meta["total_count"] == str(len(body["objects"]))
    keys = {"agent_id", "call_missed_dt", "callrecord_uuid", "completed_dt", "completed_via", "duedate", "contact_id",
            "created_by", "created_dt", "id", "is_completed", "modified_dt", "phone", "type"}
    for task in body["objects"]:
        assert set(task) == keys
        assert UTC_LOST_SPACE.match(task["created_dt"])
        assert (task["completed_dt"] == "$None") is (not task["is_completed"])
    types = {t["type"] for t in body["objects"]}
    assert types == {"missedcall", "followup"}
    open_missed = next(t for t in body["objects"] if t["type"] == "missedcall" and not t["is_completed"])
    assert UTC_PLAIN.match(open_missed["call_missed_dt"])
    detail = (await client.get(f"{API}/tasks/{open_missed['id']}")).json()
    assert detail["id"] == open_missed["id"] and UTC_LOST_SPACE.match(detail["call_missed_dt"])
    followups = (await client.get(f"{API}/tasks", params={"type": "followup"})).json()["objects"]
    assert followups and all(t["duedate"] and t["agent_id"] for t in followups)
    page = (await client.get(f"{API}/tasks", params={"limit": 5, "offset": 5})).json()
    assert len(page["objects"]) == 5 and page["meta"]["offset"] == "5" and page["meta"]["next"]
    assert (await client.get(f"{API}/tasks/1")).status_code == 404


async def test_notifications_register_enable_disable(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    body = (await client.get(f"{API}/notifications")).json()
    assert_meta(body, limit=20)
    assert body["meta"]["next"] is None and body["meta"]["previous"] is None
    reg = body["objects"][0]
    assert {"app_type", "enable", "k_number", "k_number_cc", "resource_uri", "user", "date_updated"} <= set(reg)
    number = sandbox.account.main_number
    r = await client.put(f"{API}/notifications", json={"knowlarity_number": number, "enable": "disable"})
    assert r.json() == {"message": "Successfullydisabled."}
    disabled = (await client.get(f"{API}/notifications", params={"enabled": "False"})).json()["objects"]
    assert [x["k_number"] for x in disabled] == [number]
    r = await client.put(f"{API}/notifications", json={"knowlarity_number": number, "enable": "enable"})
    assert r.json() == {"message": "Successfullyenabled."}
    r = await client.put(f"{API}/notifications", json={"knowlarity_number": "+919000012345", "enable": "enable"})
    assert (r.status_code, r.json()) == (401, {"message": MSG_NOTIFY_AUTH})
    r = await client.put(f"{API}/notifications", json={"knowlarity_number": number, "enable": "maybe"})
    assert r.status_code == 400
    r = await client.post(f"{API}/notifications", json={"knowlarity_number": [number]})
    assert r.json() == {"message": "Successfullyregistered."}
    r = await client.post(f"{API}/notifications", json={"knowlarity_number": ["+919000012345"]})
    assert r.status_code == 400
    assert r.json() == {"error": {"knowlarity_number": "The knowlaritynumber(+919000012345) or API key isinvalid."}}


async def test_registering_a_bought_number(client: httpx.AsyncClient) -> None:
    url = f"{API}/numbers/AvailablePhoneNumbers"
    number = (await client.get(url, params={"circle_id": 6})).json()["numbers"][0]["number"]
    await client.post(f"{API}/numbers", json={"user_plan_id": 407890, "expiry_time": in_days(10), "number": number})
    assert not (await client.get(f"{API}/notifications", params={"knowlarity_number": number})).json()["objects"]
    r = await client.post(f"{API}/notifications", json={"knowlarity_number": [number]})
    assert r.status_code == 200
    rows = (await client.get(f"{API}/notifications", params={"knowlarity_number": number})).json()["objects"]
    assert [(x["k_number"], x["enable"]) for x in rows] == [(number, True)]


# ---- detailed call log, recordings -----------------------------------------------------------------------


async def test_detailed_call_log(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    record = next(r for r in reversed(sandbox.account.calllog.records()) if r.call_status == "Connected")
    r = await client.get(f"{API}/call/get-detailed-call-log", params={"uuid": record.uuid})
    message = r.json()["message"]
    assert message["unique_id"] == record.uuid
    for key in ("id", "caller", "called", "hangup_cause", "call_type", "start_time", "end_time", "pickup_time",
                "hangup_time", "attempt_number", "events"):
        assert key in message
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", message["start_time"])
    assert message["events"]["unique_id"] == record.uuid and message["events"]["answered"] is True
    r = await client.get(f"{API}/call/get-detailed-call-log")
    assert r.status_code == 400 and "uuid" in r.json()["message"]
    r = await client.get(f"{API}/call/get-detailed-call-log", params={"uuid": "nope"})
    assert r.status_code == 404


async def test_recordings_are_served(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    rows = (await client.post(f"{API}/sr/calllog", json={"call_status": "Connected", "solution_type": ["C2C"]})).json()
    url = next(row["recording_url"] for row in rows["objects"] if row["recording_url"])
    assert url.startswith(sandbox.base_url + "/kstorage/read?uuid=")
    audio = await client.get(url)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav" and audio.content[:4] == b"RIFF"
    missing = await client.get(f"{sandbox.base_url}/kstorage/read", params={"uuid": "nope_0_1_r.wav"})
    assert missing.status_code == 404


async def test_repr_and_redacted_stream_url_hide_the_keys(sandbox: SandboxServer) -> None:
    assert AUTH["Authorization"] not in repr(sandbox) and AUTH["x-api-key"] not in repr(sandbox)
    assert AUTH["Authorization"] in sandbox.stream_url  # the documented path carries it
    assert AUTH["Authorization"] not in sandbox.stream_url_redacted
    assert sandbox.stream_url_redacted.endswith("/update-stream/***/konnect")
