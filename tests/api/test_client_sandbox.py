"""Every client method, and the live stream, against the real sandbox over loopback HTTP.

The sandbox (`sandbox/`, fixture `sandbox` from sandbox.testing) serves the documented API
with the documented shapes; here the project's own client talks to it exactly as it would
talk to Knowlarity, so a disagreement between the two shows up as a failing test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from console.api import (
    AuthError,
    BadRequest,
    CallEvent,
    CallLogQuery,
    Cdr,
    KnowlarityClient,
    LiveStream,
    NewCampaign,
    NewOrder,
    NotFound,
    StreamState,
    normalize_number,
)
from sandbox.server import DEFAULT_API_KEY, DEFAULT_SR_API_KEY, SandboxServer

pytestmark = pytest.mark.timeout(60)
LIFECYCLE = ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "CUSTOMER_CALL", "CUSTOMER_ANSWER", "BRIDGE", "HANGUP"]


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[KnowlarityClient]:
    async with KnowlarityClient(base_url=sandbox.base_url, sr_api_key=DEFAULT_SR_API_KEY,
                                api_key=DEFAULT_API_KEY, retries=0, timeout=10) as c:
        yield c


async def available_agent_number(client: KnowlarityClient) -> str:
    agents = await client.list_agents()
    agent = next(a for a in agents if a.agent_status == "Available" and a.phone_number)
    assert agent.phone_number is not None
    return agent.phone_number


async def test_numbers_circles_plans_and_buying(client: KnowlarityClient, sandbox: SandboxServer) -> None:
    numbers = await client.list_numbers()
    owned = {n.phone_number for n in numbers.objects}
    assert sandbox.account.main_number in owned and numbers.meta.total_count == len(numbers.objects)
    assert all(n.created_time is not None and n.expiry_time is not None for n in numbers.objects)
    circles = await client.list_circles()
    assert circles and all(c.id and c.city for c in circles)
    assert await client.list_circles(country="India")
    with pytest.raises(BadRequest, match="invalid country name"):
        await client.list_circles(country="Atlantis")
    plans = await client.list_plans()
    plan = next(p for p in plans.objects if p.is_active)
    assert plan.userplan_id and plan.expiry_time is not None
    offers = await client.available_numbers(circles[0].id or "")
    assert offers and all(o.number and o.circle_id == circles[0].id for o in offers)
    offer = offers[0]
    assert offer.number is not None
    expiry = min(plan.expiry_time, datetime.now(UTC) + timedelta(days=30))  # type: ignore[type-var]
    bought = await client.buy_number(offer.number, user_plan_id=plan.userplan_id or "", expiry_time=expiry)
    assert "allocated" in (bought.message or "")
    assert offer.number in {n.phone_number for n in (await client.list_numbers(number=offer.number)).objects}
    assert offer.number not in {o.number for o in await client.available_numbers(circles[0].id or "")}
    with pytest.raises(BadRequest):
        await client.buy_number(offer.number, user_plan_id=plan.userplan_id or "", expiry_time=expiry)


async def test_phonebooks_and_sounds(client: KnowlarityClient) -> None:
    before = await client.list_phonebooks()
    uploaded = await client.upload_phonebook("api-test", ["+919811100001", "98111 00002"])
    assert uploaded.id and uploaded.msg == ["Successfully added phonebook"]
    after = await client.list_phonebooks()
    assert len(after.objects) == len(before.objects) + 1
    book = next(b for b in after.objects if b.id == uploaded.id)
    assert book.phonebookname == "api-test" and book.row_count == 2 and book.timestamp is not None
    sounds = await client.list_sounds()
    assert {s.status_label for s in sounds.objects} >= {"Approved"}
    new_sound = await client.upload_sound("greeting", "https://example.com/hello.mp3", language="English")
    assert new_sound.status == 0 and new_sound.status_label == "Under Approval" and new_sound.id
    listed = next(s for s in (await client.list_sounds()).objects if s.id == new_sound.id)
    assert listed.status_label == "Under Approval" and not listed.approved


async def test_campaigns_and_orders(client: KnowlarityClient) -> None:
    campaigns = await client.list_campaigns()
    assert campaigns.objects and all(c.order_id for c in campaigns.objects)
    assert any(c.call_scheduling and len(c.call_scheduling) == 7 for c in campaigns.objects)
    sound = next(s for s in (await client.list_sounds()).objects if s.approved)
    book = (await client.list_phonebooks()).objects[0]
    numbers = await client.list_numbers()
    k_number = numbers.objects[0].phone_number or ""
    start = datetime.now(UTC) + timedelta(days=1)
    created = await client.create_campaign(NewCampaign(
        sound_id=sound.id, phonebook=book.id, priority=5, order_throttling=4, retry_duration=15, max_retry=2,
        start_time=start, call_scheduling=[1, 1, 1, 1, 1, 0, 0], call_scheduling_start_time="09:00",
        call_scheduling_stop_time="21:00", k_number=k_number, additional_number=["+919811100003"],
        is_transactional=False,
    ))
    assert created.order_id and created.status_code == 1
    mine = await client.list_campaigns(order_id=created.order_id)
    assert [c.order_id for c in mine.objects] == [created.order_id]
    assert mine.objects[0].call_scheduling == [1, 1, 1, 1, 1, 0, 0] and mine.objects[0].is_transactional is False
    assert (await client.list_campaigns(start_time__gt=start - timedelta(hours=1))).objects
    paused = await client.set_campaign_status(created.order_id, "pause")
    assert "paused" in (paused.message or "").lower()
    assert (await client.set_campaign_status(created.order_id, "resume")).message
    added = await client.add_campaign_numbers(created.order_id, ["+919811100004", "+919811100005"])
    assert added.message == "call addedsuccessfully" and added.dnd_count == 0
    grown = (await client.list_campaigns(order_id=created.order_id)).objects[0]
    assert (grown.additional_number or "").count("+91") >= 3
    assert (await client.set_campaign_status(created.order_id, "stop")).message
    with pytest.raises((NotFound, BadRequest)):
        await client.set_campaign_status("999999999", "pause")
    ivr_campaign = next(c for c in campaigns.objects if c.ivr_id)
    order = await client.create_order(NewOrder(
        ivr_id=ivr_campaign.ivr_id, additional_number="+919811100006", start_time=start, k_number=k_number,
        priority=10, order_throttling=2, call_scheduling=[1] * 7, is_transactional=True,
    ))
    assert order.order_id and order.result == "placed ordersuccessfully"
    call_added = await client.add_call_to_order(order.order_id, "+919811100007", call_times_retry=3, retry_timedelta=1)
    assert call_added.result == "call addedsuccessfully" and call_added.status_code == 1


async def test_agents_and_tasks(client: KnowlarityClient) -> None:
    agents = await client.list_agents()
    assert len(agents) >= 10 and all(a.id and a.first_name and a.agent_status for a in agents)
    detail = await client.get_agent(agents[0].id or "")
    assert detail.id == agents[0].id and detail.phone_number == agents[0].phone_number
    assert normalize_number(detail.phone_number) == detail.phone_number
    with pytest.raises(NotFound):
        await client.get_agent("no-such-agent")
    tasks = await client.list_tasks()
    assert tasks.meta.total_count is not None
    if tasks.objects:
        task = await client.get_task(tasks.objects[0].id or "")
        assert task.id == tasks.objects[0].id and task.created_dt is not None
    with pytest.raises(NotFound):
        await client.get_task("123456789123")


async def test_notifications(client: KnowlarityClient, sandbox: SandboxServer) -> None:
    number = sandbox.account.main_number
    registered = await client.register_notifications([number])
    assert "registered" in (registered.message or "")
    listed = await client.list_notifications(knowlarity_number=number)
    assert [r.k_number for r in listed.objects] == [number] and listed.meta.limit == 20
    assert "k_api_key" not in repr(listed) or "SecretStr" in repr(listed)
    assert (await client.set_notifications(number, False)).message == "Successfullydisabled."
    assert [r.enable for r in (await client.list_notifications(knowlarity_number=number)).objects] == [False]
    assert (await client.set_notifications(number, True)).message == "Successfullyenabled."
    assert (await client.list_notifications(enabled=True)).objects
    with pytest.raises(BadRequest, match="knowlarity_number"):
        await client.register_notifications(["+911111111111"])


async def test_calls_and_call_logs(client: KnowlarityClient, sandbox: SandboxServer) -> None:
    k_number = sandbox.account.main_number
    agent_number = await available_agent_number(client)
    placed = await client.make_call(k_number, agent_number, "+919811100010")
    assert placed.status == "success" and placed.message == "Callsuccessfully placed"
    dnc = sorted(sandbox.account.dnc_numbers)[0]
    with pytest.raises(BadRequest, match="Do Not Call") as info:
        await client.make_call(k_number, agent_number, dnc)
    assert info.value.status == 200
    with pytest.raises(BadRequest, match="Agent Number not register"):
        await client.make_call(k_number, "+911234500000", "+919811100011")
    ivr_id = sorted(sandbox.account.ivr_flows)[0]
    otp = await client.otp_call(ivr_id, k_number, "+919811100012")
    assert otp.status == "initiated" and otp.call_id
    with pytest.raises(BadRequest, match="No approved IVR"):
        await client.otp_call("0", k_number, "+919811100012")

    now = datetime.now(UTC)
    query = CallLogQuery(start_time__gt=now - timedelta(days=30), start_time__lt=now + timedelta(hours=1), limit=50)
    first = await client.search_call_log(query)
    assert len(first.objects) == 50 and first.next_cursor
    record = first.objects[0]
    assert record.uuid and record.start_time is not None and record.call_direction in ("Inbound", "Outbound")
    pages = [p async for p in client.iter_call_log(query.model_copy(update={"limit": 200}), max_pages=3)]
    uuids = [r.uuid for p in pages for r in p.objects]
    assert len(uuids) == len(set(uuids)) and len(pages) >= 2
    inbound = await client.search_call_log(start_time__gt=now - timedelta(days=30), start_time__lt=now,
                                           solution_type="IBD", duration__gt=10, limit=20)
    assert all(r.solution_type == "IBD" and (r.duration or 0) > 10 for r in inbound.objects)
    detail = await client.detailed_call_log(record.uuid or "")
    assert detail.unique_id == record.uuid and detail.start_time is not None
    with pytest.raises(NotFound):
        await client.detailed_call_log("no-such-uuid")


async def test_wrong_keys_get_the_documented_errors(sandbox: SandboxServer) -> None:
    async with KnowlarityClient(base_url=sandbox.base_url, sr_api_key="wrong-sr-key-123",
                                api_key=DEFAULT_API_KEY, retries=0) as bad:
        with pytest.raises(AuthError, match="toauthenticate is incorrect") as info:
            await bad.list_agents()
        assert "wrong-sr-key-123" not in str(info.value)
        with pytest.raises(AuthError):
            await bad.list_plans()
        with pytest.raises(BadRequest, match="Invalid APIKey for this SR number"):
            await bad.make_call(sandbox.account.main_number, "+919000000001", "+919811100013")
    async with KnowlarityClient(base_url=sandbox.base_url, sr_api_key=DEFAULT_SR_API_KEY,
                                api_key="wrong-app-key-456", retries=0) as bad:
        with pytest.raises(AuthError):
            await bad.list_sounds()
    async with KnowlarityClient(base_url=sandbox.base_url, sr_api_key=DEFAULT_SR_API_KEY,
                                api_key=DEFAULT_API_KEY, channel="Platinum", retries=0) as bad:
        with pytest.raises(NotFound, match="Unknown channel"):
            await bad.list_sounds()


async def collect_call(stream_items: AsyncIterator, uuid_holder: list[str], want: int, timeout: float = 10.0) -> list:
    got: list = []

    async def run() -> None:
        async for item in stream_items:
            got.append(item)
            if uuid_holder and sum(1 for i in got if i.uuid == uuid_holder[0]) >= want:
                return

    await asyncio.wait_for(run(), timeout)
    return got


async def test_stream_delivers_a_made_call_in_order(client: KnowlarityClient, sandbox: SandboxServer) -> None:
    states: list[StreamState] = []
    agent_number = await available_agent_number(client)
    async with LiveStream(sandbox.stream_url, client=client, on_state=states.append) as stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        while sandbox.hub.subscriber_count < 1:
            await asyncio.sleep(0.01)
        await client.make_call(sandbox.account.main_number, agent_number, "+919811100020")
        head = await asyncio.wait_for(first, 10)
        uuid = [head.uuid]
        rest = await collect_call(items, uuid, want=len(LIFECYCLE))  # + the head = 7 events and the CDR
    mine = [i for i in [head, *rest] if i.uuid == uuid[0]]
    assert [i.kind for i in mine] == [*LIFECYCLE, "CDR"]
    assert all(isinstance(i, CallEvent) for i in mine[:-1]) and isinstance(mine[-1], Cdr)
    assert mine[0].involves(agent_number) and mine[-1].involves("+91 98111 00020")
    assert mine[-1].call_type == "Outgoing" and mine[-1].call_duration is not None
    assert states[:2] == [StreamState("connecting"), StreamState("live")]
    assert DEFAULT_SR_API_KEY not in repr(stream)


async def test_stream_survives_a_drop_with_no_duplicate_and_no_gap(client: KnowlarityClient, sandbox: SandboxServer) -> None:
    states: list[StreamState] = []
    agent_number = await available_agent_number(client)

    async def no_wait(delay: float) -> None:
        await asyncio.sleep(0)

    stream = LiveStream(sandbox.stream_url, client=client, on_state=states.append, sleep=no_wait)
    async with stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        while sandbox.hub.subscriber_count < 1:
            await asyncio.sleep(0.01)
        # A call before the drop, seen live from start to end.
        await client.make_call(sandbox.account.main_number, agent_number, "+919811100030")
        head = await asyncio.wait_for(first, 10)
        before = [head, *await collect_call(items, [head.uuid], want=len(LIFECYCLE))]
        # Drop every subscriber; while we are away, a whole call happens.
        assert sandbox.drop_stream_subscribers() == 1
        missed_uuid = sandbox.place_inbound_call(customer_number="+919811100031")
        while sandbox.account.calllog.get(missed_uuid) is None:
            await asyncio.sleep(0.01)
        # The stream reads only when pulled: it notices the drop, reconnects and fills the
        # gap below, after the whole missed call has happened.
        assert stream.state.status == "live"
        # After the reconnect the missed call comes back from the call log; then calls
        # flow live again.
        after: list = []

        async def until(predicate: object) -> None:
            async for item in items:
                after.append(item)
                if predicate(item):  # type: ignore[operator]
                    return

        await asyncio.wait_for(until(lambda i: isinstance(i, Cdr) and i.uuid == missed_uuid), 10)
        await client.make_call(sandbox.account.main_number, agent_number, "+919811100032")
        await asyncio.wait_for(until(lambda i: isinstance(i, Cdr) and i.uuid not in (head.uuid, missed_uuid)), 10)
    seen = [(i.uuid, i.kind) for i in before + after]
    assert len(seen) == len(set(seen)), "an event came twice"
    missed = [i for i in after if i.uuid == missed_uuid]
    assert missed and isinstance(missed[-1], Cdr) and missed[-1].kind == "CDR"
    assert missed[-1].backfilled and missed[-1].record is not None
    assert missed[-1].customer_number == "+919811100031"
    statuses = [s.status for s in states]
    assert statuses[:2] == ["connecting", "live"] and "retrying" in statuses and statuses[-1] == "live"
    assert stream.stats.backfilled >= 1 and stream.stats.drops == 1


async def test_stream_with_a_wrong_key_fails_clearly(sandbox: SandboxServer) -> None:
    url = sandbox.stream_url.replace(DEFAULT_SR_API_KEY, "not-the-key-789")
    stream = LiveStream(url)
    async with stream:
        assert [item async for item in stream] == []
    assert stream.state.status == "failed" and "HTTP 401" in str(stream.state)
    assert "not-the-key-789" not in str(stream.state) + repr(stream)
