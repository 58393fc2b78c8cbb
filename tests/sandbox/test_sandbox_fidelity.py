"""Fidelity to the documentation: the eleven CDR types, the panel's originate event, paging."""

from __future__ import annotations

import random
from collections import Counter

import httpx

from console.actions import ingest_stream_item
from console.api.events import parse_event
from console.state import CallsBoard
from sandbox.account import Account
from sandbox.calls import PANEL_ORIGINATE, make_plan, random_plan
from sandbox.server import SandboxServer
from sandbox.testing import SandboxFactory, StreamRecorder
from tests.sandbox.sandbox_helpers import API, AUTH

CDR_TYPES = {"Phone", "Agent Missed", "Customer Missed", "Voicemail", "DTMF", "Missed Call", "Conference",
             "Blacklist", "Sound", "Fax", "OutGoing Calls"}


def test_the_seeded_history_holds_all_eleven_documented_cdr_types() -> None:
    account = Account.generate(7, history=3000)
    kinds = Counter(r.business_call_type for r in account.calllog.records())
    assert set(kinds) == CDR_TYPES, kinds


async def test_each_extra_inbound_outcome_is_a_whole_call(sandbox: SandboxServer) -> None:
    """DTMF, Conference, Blacklist and Fax calls on the stream: events in order, the CDR's
    type, a call-log record; the board keeps the live type and the CDR's apart."""
    rng = random.Random(3)
    agent = sandbox.account.default_agent
    board = CallsBoard()
    expected = {"dtmf": "DTMF", "conference": "Conference", "blacklist": "Blacklist", "fax": "Fax"}
    async with StreamRecorder(sandbox.stream_url) as rec:
        plans = {}
        for outcome in expected:
            plan = make_plan(rng, kind="ibd", outcome=outcome, knowlarity_number=sandbox.account.main_number,
                             customer_number="+919811100077", agent=agent if outcome == "conference" else None)
            sandbox.engine.start(plan)
            plans[outcome] = plan
        for plan in plans.values():
            await rec.wait_for(lambda e, u=plan.uuid: e.get("type") == "CDR" and e["uuid"] == u)
    for item in rec.events:
        ingest_stream_item(board, parse_event(item))
    for outcome, cdr_type in expected.items():
        uuid = plans[outcome].uuid
        events = rec.for_call(uuid)
        cdr = events[-1]
        assert cdr["business_call_type"] == cdr_type and cdr["Call_Type"] == "Incoming"
        types = [e.get("event_type") for e in events[:-1]]
        if outcome == "conference":
            assert types == ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "BRIDGE", "HANGUP"] and cdr["resource_url"]
            assert events[-2]["business_call_type"] == "Inbound"
        else:
            assert types == ["ORIGINATE", "HANGUP"] and all(e["agent_number"] is None for e in events[:-1])
            assert events[-2]["business_call_type"] == "Unanswered"
        record = sandbox.account.calllog.get(uuid)
        assert record is not None and record.business_call_type == cdr_type
        row = board.get(uuid)
        assert row is not None and row.cdr_type == cdr_type and row.cti_type == events[-2]["business_call_type"]
        assert row.business_call_type == cdr_type
    blacklisted = sandbox.account.calllog.get(plans["blacklist"].uuid)
    assert blacklisted is not None and blacklisted.call_status == "Failed"


def test_panel_click_to_calls_open_with_originate_agent_call() -> None:
    account = Account.generate(7, history=10)
    rng = random.Random(5)
    plans = [random_plan(rng, account, kind="c2c", live=True, now=0.0) for _ in range(40)]
    panel = [p for p in plans if p.panel]
    assert panel, "background click-to-calls come from the web panel"
    for plan in panel:
        first = plan.steps()[0][0]
        assert first == PANEL_ORIGINATE
        event = plan.cti_event(first)
        assert event["customer_number"] is None and event["agent_number"] == plan.agent_number
    parsed = parse_event(panel[0].cti_event(PANEL_ORIGINATE))
    assert type(parsed).__name__ == "CallEvent" and parsed.kind == "ORIGINATE_AGENT_CALL"
    board = CallsBoard()
    ingest_stream_item(board, parsed)
    assert board.get(panel[0].uuid).state_label == "panel call to agent"  # type: ignore[union-attr]


async def test_lists_are_paged_when_longer_than_a_page(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(page_size=2)
    async with httpx.AsyncClient(base_url=sb.base_url, headers=AUTH, timeout=10) as c:
        r = await c.get(f"{API}/sound")
        meta = r.json()["meta"]
        assert len(r.json()["objects"]) == 2 and meta["total_count"] == len(sb.account.sounds)
        assert meta["next"] == f"{API}/sound?limit=2&offset=2"
        r = await c.get(f"{API}/sound", params={"limit": "1000"})
        assert len(r.json()["objects"]) == 2  # the server's cap wins, as Tastypie's max_limit does
        r = await c.get(meta["next"])
        assert [s["id"] for s in r.json()["objects"]] == [str(s.id) for s in sb.account.sounds[2:4]]
