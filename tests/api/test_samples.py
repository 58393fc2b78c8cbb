"""Every sample response of the documentation, verbatim, through the client and its models.

Each sample file in samples/ is the documentation's text exactly (pseudo-JSON included);
success samples go through the client method of their endpoint (so path, decoding and
typing are all exercised), error samples through the same methods with their documented
status, and stream samples through `parse_event`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from console.api import (
    AuthError,
    BadRequest,
    CallEvent,
    CallLogQuery,
    Cdr,
    EventType,
    NewCampaign,
    NewOrder,
    parse_event,
)
from console.api.lenient_json import loads

from .helpers import SAMPLES, Recorder, make_client, sample, text_response

IST = timezone(timedelta(hours=5, minutes=30))
UTC = UTC
DOC = Path(__file__).resolve().parents[3] / "shared" / "knowlarity-api.txt"


def use(name: str) -> str:
    return sample(name)


async def call(name: str, method: str, *args: object, status: int = 200, **kwargs: object) -> tuple[object, Recorder]:
    recorder = Recorder(text_response(use(name), status))
    async with make_client(recorder) as client:
        result = await getattr(client, method)(*args, **kwargs)
    return result, recorder


@pytest.mark.skipif(not DOC.exists(), reason="the documentation is not next to this checkout")
def test_every_sample_is_verbatim_from_the_documentation() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for path in sorted(SAMPLES.glob("*.txt")):
        assert path.read_text(encoding="utf-8").rstrip("\n") in doc, path.name


async def test_bought_numbers() -> None:
    page, rec = await call("bought_numbers_200", "list_numbers")
    assert rec.last.url.path == "/Basic/v1/account/numbers/"
    assert page.meta.total_count == 9 and page.meta.next is None and len(page.objects) == 9
    first = page.objects[0]
    assert first.created_time == datetime(2016, 10, 21, 7, 25, 5, tzinfo=UTC)
    assert first.is_expired is False and first.number_rating == -1 and first.phone_number == "+91XXXXXXXXXX"
    assert [n.is_expired for n in page.objects].count(True) == 5


async def test_create_order() -> None:
    order = NewOrder(ivr_id="1000000020", additional_number="+919900000089", start_time="2018-07-20 18:17",
                     k_number="+918047100100", call_scheduling=[1] * 7, is_transactional=True, user_plan_id=440274)
    result, rec = await call("create_order_200", "create_order", order)
    assert rec.last.url.path == "/Basic/v1/account/call-center/create_order/"
    assert result.order_id == "175" and result.status_code == 1 and result.result == "placed ordersuccessfully"
    body = rec.last_json()
    assert body["start_time"] == "2018-07-20 18:17" and body["call_scheduling"] == [1] * 7
    assert body["is_transactional"] == 1 and body["outbound_callcenter"] == 1


async def test_add_call_to_order_missing_comma() -> None:
    result, rec = await call("add_call_to_order_200", "add_call_to_order", 19488, ["+919100000466"],
                             call_times_retry=3, retry_timedelta=1)
    assert rec.last.method == "PUT" and rec.last.url.path == "/Basic/v1/account/call-center/add_call_to_order"
    assert rec.last_json() == {"order_id": 19488, "phone_numbers": "+919100000466", "call_times_retry": 3, "retry_timedelta": 1}
    assert result.result == "call addedsuccessfully" and result.status_code == 1


async def test_circles_bare_keys() -> None:
    circles, rec = await call("circles_200", "list_circles", country="India")
    assert rec.last.url.path == "/Basic/v1/account/numbers/Circle" and rec.last.url.params["country"] == "India"
    assert [(c.id, c.city) for c in circles] == [("3", "Andhra Pradesh")]


@pytest.mark.parametrize(("name", "status", "error", "text"), [
    ("circles_401", 401, AuthError, "The SR API Key used toauthenticate is incorrect."),
    ("circles_400", 400, BadRequest, "You have providedinvalid country name."),
])
async def test_circle_errors(name: str, status: int, error: type, text: str) -> None:
    with pytest.raises(error) as info:
        await call(name, "list_circles", status=status)
    assert text in info.value.message and info.value.status == status


async def test_plans_bare_keys_and_lost_space() -> None:
    page, rec = await call("plans_200", "list_plans")
    assert rec.last.url.path == "/Basic/v1/account/plans"
    plan = page.objects[0]
    assert plan.userplan_id == "407890" and plan.is_active is False and plan.plan_type_label == "Internal"
    assert plan.expiry_time == datetime(2017, 10, 19, 18, 30, tzinfo=UTC)
    with pytest.raises(AuthError, match="toauthenticate is incorrect"):
        await call("plans_401", "list_plans", status=401)


async def test_available_numbers_and_errors() -> None:
    numbers, rec = await call("available_numbers_200", "available_numbers", 1, pattern="^+9190")
    assert rec.last.url.path == "/Basic/v1/account/numbers/AvailablePhoneNumbers"
    assert rec.last.url.params["circle_id"] == "1" and rec.last.url.params["pattern"] == "^+9190"
    assert b"pattern=%5E%2B9190" in rec.last.url.query
    assert numbers[0].provider_name == "Vodafone" and numbers[0].circle_id == "1" and numbers[0].number_rating == 0
    with pytest.raises(AuthError):
        await call("available_numbers_401", "available_numbers", 1, status=401)
    for name in ("available_numbers_400_no_input", "available_numbers_400_incorrect"):
        with pytest.raises(BadRequest, match="contact support"):
            await call(name, "available_numbers", 1, status=400)


async def test_buy_number_bare_value() -> None:
    result, rec = await call("buy_number_200", "buy_number", "+919100000001", user_plan_id=407890,
                             expiry_time=datetime(2017, 4, 25, tzinfo=IST))
    assert rec.last.method == "POST" and rec.last.url.path == "/Basic/v1/account/numbers"
    assert rec.last_json() == {"user_plan_id": "407890", "expiry_time": "2017-04-25 00:00:00", "number": "+919100000001"}
    assert result.number == "phone_number" and "allocated" in (result.message or "")
    with pytest.raises(AuthError):
        await call("buy_number_401", "buy_number", "+919100000001", user_plan_id=1,
                   expiry_time=datetime(2017, 4, 25), status=401)
    with pytest.raises(BadRequest, match="incorrect input"):
        await call("buy_number_400", "buy_number", "+919100000001", user_plan_id=1,
                   expiry_time=datetime(2017, 4, 25), status=400)


async def test_phonebooks() -> None:
    page, rec = await call("phonebooks_200", "list_phonebooks")
    assert rec.last.url.path == "/Basic/v1/account/contacts/phonebook/"
    book = page.objects[0]
    assert book.timestamp == datetime(2017, 3, 30, 18, 24, 24, tzinfo=IST) and book.row_count == 2
    result, rec = await call("phonebook_upload_200", "upload_phonebook", "phonebook_1", ["+919100000001", "+919100000002"])
    assert rec.last_json() == {"phonebookname": "phonebook_1", "numbers": "+919100000001;+919100000002"}
    assert result.id == "1" and result.msg == ["Successfully added phonebook"]


async def test_sounds() -> None:
    page, rec = await call("sounds_200", "list_sounds")
    assert rec.last.url.path == "/Basic/v1/account/sound"
    sound = page.objects[0]
    assert sound.date == datetime(2016, 7, 1, 16, 45, 37, tzinfo=IST)
    assert sound.status == 1 and sound.status_label == "Approved" and sound.id == "1"
    result, rec = await call("sound_upload_200", "upload_sound", "test", "https://xyz.com/sound.mp3", language="English")
    assert rec.last_json() == {"soundname": "test", "soundfile": "https://xyz.com/sound.mp3", "language": "English"}
    assert result.status == 0 and result.status_label == "Under Approval" and result.id == "157777"


async def test_campaigns() -> None:
    page, rec = await call("campaigns_200", "list_campaigns", start_time__gt="2017-04-10", start_time__lt="2017-04-12")
    assert rec.last.url.path == "/Basic/v1/account/call/campaign"
    assert dict(rec.last.url.params) == {"start_time__gt": "2017-04-10", "start_time__lt": "2017-04-12"}
    campaign = page.objects[0]
    assert campaign.call_scheduling == [1, 1, 1, 1, 1, 0, 0] and campaign.scheduled_days[-1] == "Fri"
    assert campaign.created_time == datetime(2017, 4, 11, 14, 19, 37, tzinfo=IST)
    assert campaign.end_time is None and campaign.is_transactional is False and campaign.order_id == "170"
    assert campaign.order_throttling == "0/10" and campaign.max_retry == 3


async def test_create_campaign_status_and_add_numbers() -> None:
    new = NewCampaign(sound_id=1, phonebook=1, priority=1, order_throttling=10, retry_duration=15, max_retry=1,
                      start_time="2017-04-1118:26", call_scheduling="[1,1, 1, 1, 1, 0,0]",
                      call_scheduling_start_time="9:00", call_scheduling_stop_time="21:00", k_number="+918047100100")
    result, rec = await call("create_campaign_200", "create_campaign", new)
    assert rec.last.url.path == "/Basic/v1/account/call/campaign" and rec.last.method == "POST"
    body = rec.last_json()
    assert body["start_time"] == "2017-04-11 18:26" and body["call_scheduling"] == "[1, 1, 1, 1, 1, 0, 0]"
    assert result.order_id == "175"
    status, rec = await call("campaign_status_200", "set_campaign_status", 170, "pause")
    assert rec.last.method == "PUT" and rec.last.url.path == "/Basic/v1/account/call/campaign/170"
    assert rec.last_json() == {"status": "pause"} and status.message == "Campaign pausedsuccessfully!"
    added, rec = await call("campaign_add_numbers_200", "add_campaign_numbers", "178", "+917000000689")
    assert rec.last.url.path == "/Basic/v1/account/call/campaign/add-numbers"
    assert rec.last_json() == {"order_id": 178, "phone_numbers": "+917000000689"}
    assert added.dnd_count == 0 and added.sivr_call_ids == [] and added.message == "call addedsuccessfully"


async def test_agents() -> None:
    agents, rec = await call("agents_200", "list_agents")
    assert rec.last.url.path == "/Basic/v1/account/agent"
    assert [a.name for a in agents] == ["prashanth N", "Shivam"] and agents[1].agent_status == "Logged Out"
    agent, rec = await call("agent_200", "get_agent", "615793")
    assert rec.last.url.path == "/Basic/v1/account/agent/615793"
    assert agent.call_groups == [] and agent.callcenter_role == "owner"


async def test_tasks_string_counts_and_dollar_none() -> None:
    page, rec = await call("tasks_200", "list_tasks")
    assert rec.last.url.path == "/Basic/v1/account/tasks"
    assert page.meta.total_count == 11 and page.meta.offset == 0
    task = page.objects[0]
    assert task.completed_dt is None and task.duedate is None and task.agent_id is None
    assert task.created_dt == datetime(2016, 6, 17, 16, 18, 21, tzinfo=UTC) and task.id == "4369999"
    detail, rec = await call("task_200", "get_task", 4369999)
    assert rec.last.url.path == "/Basic/v1/account/tasks/4369999"
    assert detail.call_missed_dt == datetime(2016, 6, 17, 16, 18, 21, tzinfo=UTC) and detail.is_completed is False


async def test_make_call_success_and_200_errors() -> None:
    result, rec = await call("make_call_200", "make_call", "+918047100100", "9000000001", "+91 98000-00002")
    assert rec.last.url.path == "/Basic/v1/account/call/makecall"
    assert rec.last_json() == {"k_number": "+918047100100", "agent_number": "+919000000001", "customer_number": "+919800000002"}
    assert result.status == "success" and result.message == "Callsuccessfully placed"
    for name, text in [("make_call_error_dnc", "Do Not Callregistry"), ("make_call_error_apikey", "Invalid APIKey"),
                       ("make_call_error_permission", "Sent call permission request")]:
        with pytest.raises(BadRequest) as info:
            await call(name, "make_call", "+918047100100", "+919000000001", "+919800000002",
                       channel="Whatsapp", call_permission_request=True)
        assert text in info.value.message and info.value.status == 200


async def test_otp_call() -> None:
    result, rec = await call("otp_call_200", "otp_call", "1000000001", "+918047100100", "+919800000002",
                             channel="Whatsapp", call_permission_request=True)
    assert rec.last.method == "GET" and rec.last.url.path == "/Basic/v1/account/otpcall"
    assert dict(rec.last.url.params) == {"ivr_id": "1000000001", "k_number": "+918047100100",
                                         "customer_number": "+919800000002", "channel": "Whatsapp",
                                         "call_permission_request": "true"}
    assert result.call_id == "abcd1234-5678-efgh-9012-ijklmnopqrst" and result.status == "initiated"
    for name in ("otp_call_400_not_allowed", "otp_call_400_permission_sent"):
        with pytest.raises(BadRequest, match="call permission request"):
            await call(name, "otp_call", "1", "+918047100100", "+919800000002", status=400)


async def test_notifications_enable_disable_register() -> None:
    on, rec = await call("notifications_enable_200", "set_notifications", "+919069118111", True)
    assert rec.last.method == "PUT" and rec.last_json() == {"knowlarity_number": "+919069118111", "enable": "enable"}
    assert on.message == "Successfullyenabled."
    off, rec = await call("notifications_disable_200", "set_notifications", "+919069118111", False)
    assert rec.last_json()["enable"] == "disable" and off.message == "Successfullydisabled."
    with pytest.raises(AuthError, match="knowlarity number iswrong"):
        await call("notifications_set_401", "set_notifications", "+919069118111", True, status=401)
    reg, rec = await call("notifications_register_200", "register_notifications", ["+919069118111"])
    assert rec.last.method == "POST" and rec.last_json() == {"knowlarity_number": ["+919069118111"]}
    assert reg.message == "Successfullyregistered."
    with pytest.raises(BadRequest, match=r"knowlarity_number: The knowlaritynumber\(\+91XXXXXXXXXX\) or API key isinvalid"):
        await call("notifications_register_400", "register_notifications", "+919069118111", status=400)


async def test_notification_registrations_keep_keys_secret() -> None:
    page, rec = await call("notifications_list_200", "list_notifications", knowlarity_number="+919069118111", enabled=True)
    assert rec.last.url.path == "/Basic/v1/account/notifications"
    assert dict(rec.last.url.params) == {"knowlarity_number": "+919069118111", "enabled": "True"}
    reg = page.objects[0]
    assert page.meta.next is None and page.meta.limit == 20
    assert reg.k_number == "+9190xxxxxxx780" and reg.enable is False and reg.id == "xxx"
    assert reg.app_type is not None and reg.app_type.name == "SUGXXXCRM" and reg.user.username == "SR"
    assert reg.date_updated == datetime(2015, 8, 6, 12, 33, 56, tzinfo=IST)
    assert reg.k_api_key.get_secret_value() == "15e4xxxxxxxxxxxx1e4-bead-22000aaca33c"
    assert '"password":"xxxxxxxx"' in reg.app_data.get_secret_value()
    for text in (repr(reg), str(reg), repr(page)):
        assert "15e4xxx" not in text and "password" not in text


async def test_detailed_call_log() -> None:
    log, rec = await call("detailed_call_log_200", "detailed_call_log", "1b6bb713-87e0")
    assert rec.last.url.path == "/Basic/v1/account/call/get-detailed-call-log"
    assert rec.last.url.params["uuid"] == "1b6bb713-87e0"
    assert log.unique_id == "1b6bb713-87e0-4fa6-XXXXX-XXXXXXXXXXX" and log.hangup_cause == 900 and log.priority == 7
    assert log.ivr_refnum == "10000XXXXX" and log.did_number is None
    assert log.start_time == datetime(2023, 8, 16, 13, 38, 6, tzinfo=IST) and log.duration == 26
    assert log.events["New_Hangup_Cause"] == "ANSWERED" and log.events["mydictionary_system"]["key3"] == [1, 2, 3, 4]


async def test_call_log_page_with_cursor_and_elisions() -> None:
    query = CallLogQuery(start_time__gt="2023-11-07 00:00:00", start_time__lt="2023-12-06 13:26:19",
                         limit=10, offset=10, customer__contains="+9197957XXXXX")
    page, rec = await call("calllog_200", "search_call_log", query)
    assert rec.last.method == "POST" and rec.last.url.path == "/Basic/v1/account/sr/calllog"
    assert rec.last_json() == {"start_time__gt": "2023-11-07 00:00:00", "start_time__lt": "2023-12-06 13:26:19",
                               "limit": 10, "offset": 10, "customer__contains": "+9197957XXXXX"}
    assert page.next_cursor is not None and page.next_cursor.startswith("forward##6568a83955bdd35f095e01e3##")
    assert page.meta.total_count is None and page.meta.limit == 10
    assert [r.destination for r in page.objects] == ["Abandoned"] and page.objects[0].ref_call_uuid is None


def test_stream_originate_sample() -> None:
    item = parse_event(loads(use("event_originate")))
    assert isinstance(item, CallEvent) and item.event_type is EventType.ORIGINATE
    assert item.uuid == "40eec284206dtf6d2d0e503c9877f9" and item.called == "81XXXXXXXX"
    assert item.call_recording is None and item.business_call_type == "Unanswered"


def test_stream_cdr_sample() -> None:
    item = parse_event(loads(use("event_cdr")))
    assert isinstance(item, Cdr) and not item.backfilled
    assert item.call_type == "Incoming" and item.incoming and item.call_duration == 29
    assert item.start_time == datetime(2015, 11, 20, 11, 50, 18, tzinfo=IST)
    assert item.end_time == datetime(2015, 11, 20, 11, 51, 37, 868542, tzinfo=IST)
    assert item.timezone_offset == "+0530" and item.resource_url.startswith("http://kservices.knowlarity.com/")
    assert item.agent_number == item.destination and item.customer_number == item.caller_id


def test_every_sample_file_is_exercised() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    unused = [p.stem for p in SAMPLES.glob("*.txt") if f'"{p.stem}"' not in source]
    assert not unused, f"samples no test feeds: {unused}"
