"""The call-log search: documented filters, limits, the 3-month window and the `next` cursor."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox import formats as fmt
from sandbox.calllog import MSG_RANGE
from sandbox.server import SandboxServer
from tests.sandbox.sandbox_helpers import API

URL = f"{API}/sr/calllog"
RECORD_KEYS = {
    "id", "uuid", "ref_call_uuid", "start_time", "end_time", "customer_number", "agent_number", "knowlarity_number",
    "solution_type", "call_direction", "call_status", "agent_status", "customer_status", "destination", "duration",
    "disposition", "action", "agent_device", "campaign_id", "recording_url", "business_call_type",
}
CURSOR = re.compile(r"^forward##[0-9a-f]{24}##\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}__[0-9a-f]{64}$")


def local(dt: datetime) -> str:
    return dt.astimezone(fmt.IST).strftime("%Y-%m-%d %H:%M:%S")


async def search(client: httpx.AsyncClient, **body: object) -> dict:
    r = await client.post(URL, json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def every_page(client: httpx.AsyncClient, **body: object) -> list[dict]:
    rows: list[dict] = []
    cursor = ""
    while True:
        page = await search(client, **body, **({"next": cursor} if cursor else {}))
        rows.extend(page["objects"])
        cursor = page["meta"]["next"]
        if not cursor:
            return rows
        assert CURSOR.match(cursor)


def order_key(row: dict) -> str:
    return row["start_time"]  # newest first (ties within a second: any order)


async def test_default_query_matches_the_sample(client: httpx.AsyncClient) -> None:
    body = await search(client)
    assert set(body["meta"]) == {"total_count", "next", "limit", "previous"}
    assert body["meta"]["total_count"] is None and body["meta"]["limit"] == 20 and body["meta"]["previous"] == ""
    assert CURSOR.match(body["meta"]["next"])
    rows = body["objects"]
    assert len(rows) == 20
    for row in rows:
        assert set(row) == RECORD_KEYS
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["start_time"])
        assert isinstance(row["duration"], int)
        assert row["call_direction"] in ("Inbound", "Outbound")
    assert [order_key(r) for r in rows] == sorted((order_key(r) for r in rows), reverse=True)


async def test_cursor_pages_through_thousands_without_duplicate_or_gap(
    client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    total = (await search(client, get_total=True, limit=1))["meta"]["total_count"]
    assert total == len(sandbox.account.calllog) >= 2500
    rows = await every_page(client, limit=200)
    uuids = [r["uuid"] for r in rows]
    assert len(uuids) == len(set(uuids)) == total
    keys = [order_key(r) for r in rows]
    assert keys == sorted(keys, reverse=True)


async def test_cursor_keeps_its_place_while_new_calls_are_logged(
    client: httpx.AsyncClient, sandbox: SandboxServer
) -> None:
    expected = {r.uuid for r in sandbox.account.calllog.records()}
    first = await search(client, limit=200)
    for _ in range(5):  # calls finishing while the client pages
        sandbox.place_inbound_call()
    while sandbox.engine.active:
        await asyncio.sleep(0.01)
    seen = [r["uuid"] for r in first["objects"]]
    cursor = first["meta"]["next"]
    while cursor:
        page = await search(client, limit=200, next=cursor)
        seen.extend(r["uuid"] for r in page["objects"])
        cursor = page["meta"]["next"]
    assert len(seen) == len(set(seen))
    assert set(seen) == expected
    newest = await search(client, limit=5)
    assert {r["uuid"] for r in newest["objects"]} - expected  # the new calls are there, at the top


async def test_filtered_paging_with_the_cursor(client: httpx.AsyncClient) -> None:
    query = {"solution_type": ["IBD", "IBD_CC"], "call_status": "Missed"}
    total = (await search(client, get_total=True, **query))["meta"]["total_count"]
    rows = await every_page(client, limit=50, **query)
    assert len(rows) == total > 50
    assert all(r["solution_type"] in ("IBD", "IBD_CC") and r["call_status"] == "Missed" for r in rows)
    assert len({r["uuid"] for r in rows}) == total


async def test_cursor_is_bound_to_its_query(client: httpx.AsyncClient) -> None:
    cursor = (await search(client, call_status="Connected"))["meta"]["next"]
    r = await client.post(URL, json={"call_status": "Missed", "next": cursor})
    assert r.status_code == 400 and "other filters" in r.json()["message"]
    r = await client.post(URL, json={"next": "forward##garbage"})
    assert (r.status_code, r.json()) == (400, {"message": "Invalid next cursor."})
    # limit may change between pages; the filters may not
    r = await client.post(URL, json={"call_status": "Connected", "next": cursor, "limit": 7})
    assert r.status_code == 200 and len(r.json()["objects"]) == 7


async def test_offset_and_limit(client: httpx.AsyncClient) -> None:
    twenty = (await search(client, limit=20))["objects"]
    second = (await search(client, limit=10, offset=10))["objects"]
    assert [r["uuid"] for r in second] == [r["uuid"] for r in twenty[10:]]
    assert len((await search(client, limit=200))["objects"]) == 200
    for bad in (201, 0, -1, "many"):
        r = await client.post(URL, json={"limit": bad})
        assert r.status_code == 400 and "limit" in r.json()["message"]
    r = await client.post(URL, json={"offset": -5})
    assert r.status_code == 400


async def test_date_window_and_its_three_month_limit(client: httpx.AsyncClient) -> None:
    now = datetime.now(fmt.IST)
    lt, gt = now - timedelta(days=10), now - timedelta(days=20)
    rows = await every_page(client, limit=200, start_time__gt=local(gt), start_time__lt=local(lt))
    assert rows and all(local(gt) < r["start_time"] < local(lt) for r in rows)
    ok = await client.post(URL, json={"start_time__gt": local(now - timedelta(days=85)), "start_time__lt": local(now)})
    assert ok.status_code == 200
    for gt_days in (100, 140):
        r = await client.post(URL, json={"start_time__gt": local(now - timedelta(days=gt_days)),
                                         "start_time__lt": local(now)})
        assert (r.status_code, r.json()) == (400, {"message": MSG_RANGE})
    r = await client.post(URL, json={"start_time__gt": local(now), "start_time__lt": local(now - timedelta(days=1))})
    assert r.status_code == 400 and "before" in r.json()["message"]
    r = await client.post(URL, json={"start_time__gt": "yesterday"})
    assert r.status_code == 400 and "start_time__gt" in r.json()["message"]


async def test_get_total_counts_only_when_asked(client: httpx.AsyncClient) -> None:
    assert (await search(client, get_total=False))["meta"]["total_count"] is None
    connected = (await search(client, get_total="true", call_status="Connected"))["meta"]["total_count"]
    missed = (await search(client, get_total=True, call_status="Missed"))["meta"]["total_count"]
    everything = (await search(client, get_total=True))["meta"]["total_count"]
    assert 0 < connected < everything and 0 < missed < everything


@pytest.mark.parametrize(
    ("field", "pick"),
    [
        ("agent_device", lambda r: r["agent_device"]),
        ("agent_status", lambda r: r["agent_status"]),
        ("customer_status", lambda r: r["customer_status"]),
        ("disposition", lambda r: r["disposition"]),
        ("action", lambda r: r["action"]),
        ("call_status", lambda r: r["call_status"]),
    ],
)
async def test_exact_filters(client: httpx.AsyncClient, field: str, pick) -> None:  # type: ignore[no-untyped-def]
    sample = next(r for r in (await search(client, limit=200))["objects"] if pick(r))
    value = pick(sample)
    rows = (await search(client, limit=200, **{field: value}))["objects"]
    assert rows and all(r[field] == value for r in rows)
    assert sample["uuid"] in [r["uuid"] for r in await every_page(client, limit=200, **{field: value})]


async def test_number_duration_campaign_and_solution_filters(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    agent = sandbox.account.agents[2].phone_number
    rows = await every_page(client, limit=200, agent_number=fmt.national(agent))  # 10 digits match +91 numbers
    assert rows and all(r["agent_number"] == agent for r in rows)
    customer = rows[0]["customer_number"]
    found = (await search(client, limit=200, customer__contains=customer[-6:]))["objects"]
    assert found and all(customer[-6:] in r["customer_number"] for r in found)
    long_calls = (await search(client, limit=200, duration__gt=300))["objects"]
    assert long_calls and all(r["duration"] > 300 for r in long_calls)
    short = (await search(client, limit=200, duration__lt=5, duration__gt=0))["objects"]
    assert all(0 < r["duration"] < 5 for r in short)
    campaigns = await every_page(client, limit=200, campaign_id=[174, 171])
    assert campaigns and {r["campaign_id"] for r in campaigns} <= {"174", "171"}
    obd = (await search(client, limit=50, solution_type="OBD"))["objects"]
    assert obd and all(r["solution_type"] == "OBD" for r in obd)
    everything = (await search(client, get_total=True, solution_type=["all"]))["meta"]["total_count"]
    assert everything == len(sandbox.account.calllog)
    r = await client.post(URL, json={"solution_type": ["IVR"]})
    assert r.status_code == 400 and "solution_type" in r.json()["message"]
