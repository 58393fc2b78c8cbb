"""Background traffic, the inbound-bot hook, and the seeded account."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict

import httpx

from sandbox.account import BOT_NUMBER, Account
from sandbox.calls import PANEL_ORIGINATE, event_position
from sandbox.server import SandboxServer
from sandbox.testing import SandboxFactory, StreamRecorder
from sandbox.traffic import BotCall
from tests.sandbox.sandbox_helpers import API, AUTH
from voice.protocol import parse_metadata


async def test_traffic_is_off_unless_asked(sandbox: SandboxServer) -> None:
    async with StreamRecorder(sandbox.stream_url) as rec:
        await asyncio.sleep(0.2)
    assert rec.events == [] and sandbox.traffic.placed == 0


async def test_background_traffic_looks_like_a_busy_account(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(traffic_rate=9000, history=50)  # ~150 calls a second, each a few ms long
    tasks_before = len(sb.account.tasks)
    async with StreamRecorder(sb.stream_url) as rec:
        for _ in range(1500):  # up to ~15 s on a loaded machine; usually well under 1 s
            if sum(1 for e in rec.events if e.get("type") == "CDR") >= 80:
                break
            await asyncio.sleep(0.01)
        await sb.traffic.stop()
        while sb.engine.active:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    calls: dict[str, list[dict]] = defaultdict(list)
    for e in rec.events:
        calls[e["uuid"]].append(e)
    cdrs = [e for e in rec.events if e.get("type") == "CDR"]
    assert len(cdrs) >= 80
    for events in calls.values():
        types = [e.get("event_type", "CDR") for e in events]
        if "CDR" not in types or not {"ORIGINATE", PANEL_ORIGINATE} & set(types):  # begun before we subscribed
            continue
        assert types[-1] == "CDR" and types[-2] == "HANGUP" and types[0] in ("ORIGINATE", PANEL_ORIGINATE), types
        positions = [event_position(t) for t in types[:-1]]
        assert positions == sorted(positions) and len(set(positions)) == len(positions), types
    kinds = Counter(c["business_call_type"] for c in cdrs)
    assert {"Phone", "OutGoing Calls", "Missed Call"} <= set(kinds) and len(kinds) >= 5, kinds
    assert {c["Call_Type"] for c in cdrs} == {"Incoming", "Outgoing"}
    agents = {e["agent_number"] for e in rec.events if e.get("event_type") == "AGENT_CALL"}
    assert len(agents) >= 4
    assert {e["knowlarity_number"] for e in rec.events if "event_type" in e} >= {
        sb.account.main_number, sb.account.missed_call_number}
    logged = {r.uuid for r in sb.account.calllog.records()}
    assert {c["uuid"] for c in cdrs} <= logged
    assert len(sb.account.tasks) > tasks_before  # missed inbound calls became tasks


async def test_inbound_bot_hook_gets_the_call(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    got: list[BotCall] = []

    async def bot(call: BotCall) -> None:
        got.append(call)
        await asyncio.sleep(0.05)  # the conversation (real time)

    sandbox.set_inbound_bot_hook(bot)
    assert sandbox.account.bot_number == BOT_NUMBER
    async with StreamRecorder(sandbox.stream_url) as rec:
        call_uuid = sandbox.place_inbound_call(knowlarity_number=BOT_NUMBER, customer_number="+919877700001")
        cdr = await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == call_uuid)
    assert got == [BotCall(call_uuid, BOT_NUMBER, "+919877700001", "inbound")]
    meta = parse_metadata(json.dumps(got[0].metadata()))  # what the Stream Node would send the bot
    assert (meta.callid, meta.virtual_number, meta.customer_number) == (call_uuid, BOT_NUMBER, "+919877700001")
    events = [e for e in rec.for_call(call_uuid) if "event_type" in e]
    assert [e["event_type"] for e in events] == ["ORIGINATE", "HANGUP"]
    assert all(e["agent_number"] is None and e["call_direction"] == "Inbound" for e in events)
    assert cdr["Call_Type"] == "Incoming" and cdr["destination"] == "VoiceBot"
    record = sandbox.account.calllog.get(call_uuid)
    assert record is not None and (record.action, record.call_status) == ("Voice Bot", "Connected")
    assert record.duration >= 1


async def test_a_failing_bot_ends_the_call_not_the_sandbox(client: httpx.AsyncClient, sandbox: SandboxServer) -> None:
    async def broken(call: BotCall) -> None:
        raise RuntimeError("bot exploded")

    sandbox.set_inbound_bot_hook(broken)
    async with StreamRecorder(sandbox.stream_url) as rec:
        call_uuid = sandbox.place_inbound_call(knowlarity_number=BOT_NUMBER)
        await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == call_uuid)
    record = sandbox.account.calllog.get(call_uuid)
    assert record is not None and record.call_status == "Failed"
    assert (await client.get(f"{API}/agent")).status_code == 200


async def test_sync_hook_and_no_hook(sandbox: SandboxServer) -> None:
    seen: list[str] = []
    sandbox.set_inbound_bot_hook(lambda call: seen.append(call.callid))  # starts the bot elsewhere, returns at once
    async with StreamRecorder(sandbox.stream_url) as rec:
        first = sandbox.place_inbound_call(knowlarity_number=BOT_NUMBER)
        await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == first)
        sandbox.set_inbound_bot_hook(None)
        second = sandbox.place_inbound_call(knowlarity_number=BOT_NUMBER)
        await rec.wait_for(lambda e: e.get("type") == "CDR" and e["uuid"] == second)
    assert seen == [first]
    for call_uuid in (first, second):
        record = sandbox.account.calllog.get(call_uuid)
        assert record is not None and record.call_status == "Connected" and record.duration > 5


async def test_background_bot_calls_reach_the_hook(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(traffic_rate=6000, history=50)
    reached = asyncio.Event()
    sb.set_inbound_bot_hook(lambda call: reached.set())
    await asyncio.wait_for(reached.wait(), 5)


async def test_agents_status_moves_with_traffic(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(traffic_rate=9000, history=50)
    before = [a.base_status for a in sb.account.agents]
    async with httpx.AsyncClient(base_url=sb.base_url, headers=AUTH) as client:
        for _ in range(300):
            if [a.base_status for a in sb.account.agents] != before:
                break
            await asyncio.sleep(0.01)
        assert [a.base_status for a in sb.account.agents] != before  # someone took a break or came back
        statuses = {a["agent_status"] for a in (await client.get(f"{API}/agent")).json()}
    assert statuses <= {"Available", "On Call", "Logged Out", "Busy", "Break"}


def test_account_is_deterministic_by_seed() -> None:
    now = 1_760_000_000.0
    a, b, c = Account.generate(7, now=now), Account.generate(7, now=now), Account.generate(8, now=now)
    assert [x.phone_number for x in a.agents] == [x.phone_number for x in b.agents]
    assert [r.uuid for r in a.calllog.records()] == [r.uuid for r in b.calllog.records()]
    assert [x.phone_number for x in a.agents] != [x.phone_number for x in c.agents]
    assert a.bot_number == c.bot_number == BOT_NUMBER  # the well-known numbers never move
    assert [x.name for x in a.agents] == [x.name for x in c.agents]


def test_seeded_account_feels_real() -> None:
    now = 1_760_000_000.0
    a = Account.generate(7, now=now)
    assert len(a.agents) == 12 and len({x.phone_number for x in a.agents}) == 12
    assert {x.base_status for x in a.agents} == {"Available", "Logged Out", "Busy", "Break"}
    assert {s.status for s in a.sounds} == {"0", "1", "2"}
    assert {c.status for c in a.campaigns} == {"Pending", "In Progress", "Paused", "Stopped", "Completed"}
    assert len({c.country for c in a.circles}) > 20 and len({n.circle_id for n in a.available}) == len(a.circles)
    records = a.calllog.records()
    assert len(records) == 3000
    assert now - 90 * 86400 < records[0].ts < records[-1].ts < now
    assert len({r.agent_number for r in records if r.agent_number}) >= 8
    assert {r.solution_type for r in records} == {"IBD", "OBD", "C2C", "IBD_CC", "sequential", "predictive"}
    assert {r.call_status for r in records} == {"Connected", "Missed", "Abandoned", "Failed"}
    assert {t.type for t in a.tasks} == {"missedcall", "followup"}
    assert any(t.completed for t in a.tasks) and any(not t.completed for t in a.tasks)
    assert all(a.notifications_enabled(n.phone_number) for n in a.numbers if not n.is_expired(now))
