"""The client against an httpx MockTransport: headers, errors, retries, and keys kept secret."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from console.api import (
    ApiConnectionError,
    ApiTimeout,
    AuthError,
    Backoff,
    BadRequest,
    CallLogQuery,
    KnowlarityClient,
    KnowlarityError,
    NewCampaign,
    NotFound,
    RateLimited,
    ResponseFormatError,
    ServerError,
)
from console.config import ConsoleSettings
from kcommon.errors import ConfigError

from .helpers import API_KEY, SR_KEY, Recorder, Sleeps, make_client, text_response

OK_AGENTS = httpx.Response(200, json=[{"id": "1", "first_name": "A"}])


def page(records: list[dict], next_cursor: str = "") -> httpx.Response:
    return httpx.Response(200, json={"meta": {"next": next_cursor, "limit": 200}, "objects": records})


async def test_headers_and_channel_path() -> None:
    rec = Recorder(OK_AGENTS)
    async with make_client(rec, channel="Enterprise") as client:
        agents = await client.list_agents()
    request = rec.last
    assert request.url == httpx.URL("https://kpi.example/Enterprise/v1/account/agent")
    assert request.headers["x-api-key"] == API_KEY and request.headers["authorization"] == SR_KEY
    assert request.headers["content-type"] == "application/json"
    assert agents[0].first_name == "A"


def test_repr_and_construction_errors_hold_no_key() -> None:
    client = make_client(Recorder(OK_AGENTS))
    assert SR_KEY not in repr(client) and API_KEY not in repr(client) and "keys=***" in repr(client)
    with pytest.raises(ValueError, match="sr_api_key is empty"):
        KnowlarityClient(sr_api_key="", api_key=API_KEY)
    with pytest.raises(ValueError, match="channel"):
        KnowlarityClient(sr_api_key=SR_KEY, api_key=API_KEY, channel="Basic/../x")
    with pytest.raises(ValueError, match="base_url"):
        KnowlarityClient(sr_api_key=SR_KEY, api_key=API_KEY, base_url="ftp://x")


async def test_from_settings() -> None:
    settings = ConsoleSettings(sr_api_key=SecretStr(SR_KEY), api_key=SecretStr(API_KEY), channel="premium",
                               base_url="http://127.0.0.1:9/", retries=0)
    client = KnowlarityClient.from_settings(settings)
    assert client.channel == "Premium" and client.base_url == "http://127.0.0.1:9" and client.retries == 0
    await client.aclose()
    assert client.closed
    with pytest.raises(ConfigError, match="KNOWLARITY_SR_API_KEY"):
        KnowlarityClient.from_settings(ConsoleSettings(api_key=SecretStr(API_KEY)))


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (401, '{"message": "The SR API Key used toauthenticate is incorrect."}', AuthError, "toauthenticate is incorrect"),
    (403, '{"error": "forbidden here"}', AuthError, "forbidden here"),
    (400, '{"message": "Provide some input."}', BadRequest, "Provide some input."),
    (400, '{"error": {"knowlarity_number": "bad number"}}', BadRequest, "knowlarity_number: bad number"),
    (404, '{"detail": "No agent 42"}', NotFound, "No agent 42"),
    (404, "", NotFound, "Not Found"),
    (422, '{"errors": ["a", "b"]}', BadRequest, "a; b"),
    (200, '{"error": {"message": "Invalid APIKey for this SR number"}}', BadRequest, "Invalid APIKey"),
    (200, '{"error": "Agent Number not register with SR account"}', BadRequest, "Agent Number not register"),
    (501, "<html><h1>Not Implemented</h1></html>", ServerError, "Not Implemented"),
])
async def test_error_mapping(status: int, body: str, error: type[KnowlarityError], message: str) -> None:
    rec = Recorder(text_response(body, status))
    async with make_client(rec) as client:
        with pytest.raises(error) as info:
            await client.get_agent("42")
    assert message in info.value.message and info.value.status == status
    assert f"HTTP {status}" in str(info.value) and "GET /Basic/v1/account/agent/42" in str(info.value)
    assert isinstance(info.value, KnowlarityError)
    assert len(rec.requests) == 1  # 4xx and 501 are never retried


async def test_500_is_retried_for_reads_then_succeeds() -> None:
    sleeps = Sleeps()
    rec = Recorder(text_response('{"message": "boom"}', 500), text_response("<html>bad gateway</html>", 502), OK_AGENTS)
    async with make_client(rec, sleeps) as client:
        agents = await client.list_agents()
    assert len(rec.requests) == 3 and agents[0].id == "1"
    assert sleeps.delays == [0.5, 1.0]  # exponential, rng fixed at 0 (no jitter taken off)


async def test_reads_give_up_after_the_retry_budget() -> None:
    sleeps = Sleeps()
    rec = Recorder(text_response('{"message": "still down"}', 503))
    async with make_client(rec, sleeps, retries=2) as client:
        with pytest.raises(ServerError, match="still down") as info:
            await client.list_tasks()
    assert len(rec.requests) == 3 and len(sleeps.delays) == 2 and info.value.retryable


async def test_jitter_and_retry_after() -> None:
    sleeps = Sleeps()
    rec = Recorder(httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "3"}),
                   httpx.Response(503, json={}), OK_AGENTS)
    client = KnowlarityClient(base_url="https://kpi.example", sr_api_key=SR_KEY, api_key=API_KEY,
                              transport=httpx.MockTransport(rec), sleep=sleeps, rng=lambda: 0.999,
                              backoff=Backoff(base=1.0, cap=4.0, jitter=0.5))
    async with client:
        await client.list_agents()
    assert sleeps.delays[0] == 3.0  # Retry-After wins over the jittered 0.5 s
    assert 1.0 <= sleeps.delays[1] <= 2.0  # second retry: ceiling 2 s, at most half taken off


async def test_rate_limit_error_type() -> None:
    rec = Recorder(httpx.Response(429, json={"message": "slow down"}))
    async with make_client(rec, retries=0) as client:
        with pytest.raises(RateLimited, match="slow down"):
            await client.list_sounds()


async def test_make_call_500_is_never_retried() -> None:
    rec = Recorder(text_response('{"message": "internal"}', 500), httpx.Response(200, json={"success": {}}))
    sleeps = Sleeps()
    async with make_client(rec, sleeps) as client:
        with pytest.raises(ServerError, match="internal"):
            await client.make_call("+918047100100", "+919000000001", "+919800000002")
    assert len(rec.requests) == 1 and sleeps.delays == []


@pytest.mark.parametrize("action", ["make_call", "otp_call", "buy_number", "create_campaign", "create_order"])
async def test_actions_are_never_retried_on_timeout(action: str) -> None:
    from console.api import NewOrder

    rec = Recorder(httpx.ReadTimeout("slow"))
    args: dict[str, tuple] = {
        "make_call": ("+918047100100", "+919000000001", "+919800000002"),
        "otp_call": ("100", "+918047100100", "+919800000002"),
        "buy_number": ("+919100000001",),
        "create_campaign": (NewCampaign(sound_id=1, additional_number="+919800000002", start_time="2030-01-01 10:00",
                                        k_number="+918047100100"),),
        "create_order": (NewOrder(ivr_id=1, additional_number="+919800000002", start_time="2030-01-01 10:00",
                                  k_number="+918047100100"),),
    }
    kwargs = {"user_plan_id": 1, "expiry_time": datetime(2030, 1, 1)} if action == "buy_number" else {}
    async with make_client(rec) as client:
        with pytest.raises(ApiTimeout) as info:
            await getattr(client, action)(*args[action], **kwargs)
    assert len(rec.requests) == 1
    assert "check before trying again" in info.value.message


async def test_read_timeouts_and_connection_errors_are_retried() -> None:
    sleeps = Sleeps()
    rec = Recorder(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), OK_AGENTS)
    async with make_client(rec, sleeps) as client:
        assert (await client.list_agents())[0].id == "1"
    assert len(rec.requests) == 3 and len(sleeps.delays) == 2
    rec = Recorder(httpx.ConnectError(f"refused while sending {SR_KEY}"))
    async with make_client(rec, Sleeps(), retries=1) as client:
        with pytest.raises(ApiConnectionError) as info:
            await client.list_agents()
    assert "could not reach Knowlarity" in str(info.value) and SR_KEY not in str(info.value)
    rec = Recorder(httpx.ReadTimeout("slow"))
    async with make_client(rec, Sleeps(), retries=0, timeout=2) as client:
        with pytest.raises(ApiTimeout, match="within 2 s"):
            await client.list_plans()


async def test_unreadable_success_body_is_a_clear_error() -> None:
    rec = Recorder(text_response("<html><body>Welcome to the captive portal</body></html>", 200))
    async with make_client(rec) as client:
        with pytest.raises(ResponseFormatError, match=r"not JSON .*captive portal"):
            await client.list_agents()


async def test_wrong_shape_is_a_clear_error() -> None:
    rec = Recorder(httpx.Response(200, json={"meta": {}, "objects": "nope"}))
    async with make_client(rec) as client:
        with pytest.raises(ResponseFormatError, match="unexpected tasks answer"):
            await client.list_tasks()
    rec = Recorder(httpx.Response(200, json="just text"))
    async with make_client(rec) as client:
        with pytest.raises(ResponseFormatError, match="expected a list"):
            await client.list_agents()


async def test_redirects_are_not_followed() -> None:
    rec = Recorder(httpx.Response(302, headers={"location": "https://elsewhere.example/"}))
    async with make_client(rec) as client:
        with pytest.raises(KnowlarityError, match="unexpected redirect"):
            await client.list_agents()
    assert len(rec.requests) == 1


async def test_keys_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    # A server that echoes the key back in its message must not leak it either.
    rec = Recorder(text_response(f'{{"message": "key {SR_KEY} / {API_KEY} refused"}}', 500),
                   text_response(f'{{"message": "key {SR_KEY} refused"}}', 401))
    with caplog.at_level(logging.DEBUG):
        async with make_client(rec) as client:
            with pytest.raises(AuthError) as info:
                await client.list_agents()
    texts = [str(info.value), repr(info.value), info.value.message, caplog.text]
    for text in texts:
        assert SR_KEY not in text and API_KEY not in text
    assert "key *** refused" in info.value.message
    assert "retry 1 of 3" in caplog.text  # the retry was logged, redacted


async def test_call_log_query_is_validated_before_any_request() -> None:
    rec = Recorder(page([]))
    async with make_client(rec) as client:
        with pytest.raises(ValidationError, match="less than or equal to 200"):
            await client.search_call_log(limit=201)
        with pytest.raises(ValidationError, match="longer than 3 months"):
            await client.search_call_log(start_time__gt=datetime(2024, 1, 1), start_time__lt=datetime(2024, 4, 2))
        with pytest.raises(ValidationError, match="must be after"):
            CallLogQuery(start_time__gt="2024-01-02", start_time__lt="2024-01-01")
        with pytest.raises(ValidationError, match="Extra inputs"):
            CallLogQuery(agent="x")
        with pytest.raises(ValidationError, match="solution_type"):
            CallLogQuery(solution_type="XYZ")
    assert rec.requests == []
    ok = CallLogQuery(start_time__gt=datetime(2024, 1, 31), start_time__lt=datetime(2024, 4, 30), limit=200,
                      solution_type="IBD", campaign_id=[1111, 2222], get_total=True, duration__gt=5)
    assert ok.to_body() == {"start_time__gt": "2024-01-31 00:00:00", "start_time__lt": "2024-04-30 00:00:00",
                            "limit": 200, "get_total": True, "campaign_id": ["1111", "2222"],
                            "solution_type": ["IBD"], "duration__gt": 5}


async def test_search_call_log_is_retried_like_a_read() -> None:
    rec = Recorder(httpx.Response(503), page([{"uuid": "a", "duration": "12"}]))
    async with make_client(rec) as client:
        result = await client.search_call_log(CallLogQuery(limit=5))
    assert len(rec.requests) == 2 and result.objects[0].duration == 12


async def test_iter_call_log_pages_by_offset_and_never_sends_next_back() -> None:
    full = [{"uuid": f"u{i}"} for i in range(2)]
    rec = Recorder(page(full, "c1"), page([{"uuid": "u2"}, {"uuid": "u3"}], "c2"), page([{"uuid": "u4"}], "c3"))
    start = datetime(2024, 5, 1)
    async with make_client(rec) as client:
        pages = [p async for p in client.iter_call_log(start_time__gt=start, start_time__lt=start + timedelta(days=1),
                                                       offset=40, limit=2)]
    assert [r.uuid for p in pages for r in p.objects] == ["u0", "u1", "u2", "u3", "u4"]
    import json
    sent = [json.loads(r.content) for r in rec.requests]
    assert [b["offset"] for b in sent] == [40, 42, 44]  # the documented offset, by rows received
    assert all("next" not in b and b["limit"] == 2 and b["start_time__gt"] == "2024-05-01 00:00:00" for b in sent)


async def test_iter_call_log_ends_on_a_short_page_an_empty_one_or_the_total() -> None:
    rec = Recorder(page([{"uuid": "a"}], "more"))  # short page: the end, whatever `next` says
    async with make_client(rec) as client:
        pages = [p async for p in client.iter_call_log(CallLogQuery(limit=5))]
    assert len(pages) == 1 and len(rec.requests) == 1
    rec = Recorder(page([{"uuid": "a"}, {"uuid": "b"}]), page([]))  # exactly full, then empty
    async with make_client(rec) as client:
        pages = [p async for p in client.iter_call_log(CallLogQuery(limit=2))]
    assert len(pages) == 2
    totalled = httpx.Response(200, json={"meta": {"total_count": 4, "next": "x"}, "objects": [{"uuid": "a"}, {"uuid": "b"}]})
    rec = Recorder(totalled)
    async with make_client(rec) as client:
        pages = [p async for p in client.iter_call_log(CallLogQuery(limit=2, offset=2, get_total=True))]
    assert len(pages) == 1 and pages[0].meta.total_count == 4  # offset 2 + 2 rows = the total
    rec = Recorder(page([{"uuid": f"x{i}"} for i in range(20)]))  # no limit sent: the documented 20
    async with make_client(rec) as client:
        pages = [p async for p in client.iter_call_log(CallLogQuery(), max_pages=3)]
    assert len(pages) == 3 and "limit" not in json_of(rec.requests[0]) and json_of(rec.requests[2])["offset"] == 40


def json_of(request: httpx.Request) -> dict:
    import json
    return json.loads(request.content)


async def test_iter_call_log_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder(page([{"uuid": "x"}, {"uuid": "y"}], "c"))
    async with make_client(rec) as client:
        with caplog.at_level(logging.WARNING):
            pages = [p async for p in client.iter_call_log(CallLogQuery(limit=2), max_pages=4)]
    assert len(pages) == 4 and "stopped after 4 pages" in caplog.text


async def test_argument_validation_happens_before_sending() -> None:
    rec = Recorder(OK_AGENTS)
    async with make_client(rec) as client:
        with pytest.raises(ValueError, match="customer_number is required"):
            await client.make_call("+918047100100", "+919000000001", " ")
        with pytest.raises(ValueError, match="pause, resume or stop"):
            await client.set_campaign_status(1, "restart")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="public http"):
            await client.upload_sound("x", "file:///etc/passwd")
        with pytest.raises(ValueError, match="no numbers"):
            await client.add_campaign_numbers(1, [])
        with pytest.raises(ValueError, match="uuid is required"):
            await client.detailed_call_log("")
        with pytest.raises(ValidationError, match="nobody to call"):
            NewCampaign(sound_id=1, start_time="2030-01-01 10:00", k_number="+918047100100")
    assert rec.requests == []


async def test_campaign_filters_are_typed() -> None:
    rec = Recorder(page([]))
    async with make_client(rec) as client:
        await client.list_campaigns(order_id=170, is_transactional=False, created_time__gte=datetime(2024, 1, 2, 3, 4, 5))
        with pytest.raises(ValidationError, match="Extra inputs"):
            await client.list_campaigns(status="Pending")
    assert dict(rec.last.url.params) == {"order_id": "170", "is_transactional": "False",
                                         "created_time__gte": "2024-01-02 03:04:05"}
    assert len(rec.requests) == 1
