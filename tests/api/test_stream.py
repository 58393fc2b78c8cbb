"""LiveStream against a loopback SSE server: order, reconnect, dedupe, backfill, states, keys."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from console.api import (
    Backoff,
    CallEvent,
    Cdr,
    EventType,
    KnowlarityClient,
    LiveStream,
    StreamState,
    UnknownEvent,
)

from .fake_knowlarity import FakeKnowlarity, cdr, event, record
from .helpers import API_KEY, SR_KEY, Sleeps

pytestmark = pytest.mark.timeout(30)
T0 = datetime(2024, 5, 1, 4, 30, tzinfo=UTC)  # 10:00 IST
LIFECYCLE = ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER", "CUSTOMER_CALL", "CUSTOMER_ANSWER", "BRIDGE", "HANGUP"]


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def fake() -> AsyncIterator[FakeKnowlarity]:
    server = FakeKnowlarity()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def client(fake: FakeKnowlarity) -> AsyncIterator[KnowlarityClient]:
    async with KnowlarityClient(base_url=fake.base_url, sr_api_key=SR_KEY, api_key=API_KEY, retries=0) as c:
        yield c


def make_stream(fake: FakeKnowlarity, states: list[StreamState], **kwargs: object) -> LiveStream:
    kwargs.setdefault("sleep", Sleeps())
    kwargs.setdefault("rng", lambda: 0.0)
    return LiveStream(fake.stream_url(), on_state=states.append, **kwargs)  # type: ignore[arg-type]


async def take(iterator: AsyncIterator, count: int, timeout: float = 5.0) -> list:
    async def _take() -> list:
        return [await anext(iterator) for _ in range(count)]

    return await asyncio.wait_for(_take(), timeout)


async def test_events_arrive_typed_and_in_order(fake: FakeKnowlarity) -> None:
    states: list[StreamState] = []
    async with make_stream(fake, states) as stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        for name in LIFECYCLE:
            fake.publish(event("call-1", name))
        fake.publish(cdr("call-1"))
        got = [await first, *await take(items, 7)]
    assert [i.kind for i in got] == [*LIFECYCLE, "CDR"]
    assert all(isinstance(i, CallEvent) for i in got[:7]) and isinstance(got[7], Cdr)
    assert got[0].event_type is EventType.ORIGINATE and got[7].call_duration == 29
    assert all(i.received_at is not None for i in got)
    assert [s.status for s in states[:2]] == ["connecting", "live"] and str(states[1]) == "live"
    assert stream.stats.received == 8


async def test_event_field_named_event_and_unknown_kinds_are_kept(fake: FakeKnowlarity) -> None:
    async with make_stream(fake, []) as stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        legacy = event("call-2", "ignored")
        del legacy["event_type"]
        fake.publish({**legacy, "event": "agent_answer"})
        fake.publish({"event_type": "TRANSFER", "uuid": "call-2", "to": "+919000000009", "k_api_key": "kk-secret"})
        fake.publish({"hello": "world"})
        got = [await first, *await take(items, 2)]
    assert isinstance(got[0], CallEvent) and got[0].event_type is EventType.AGENT_ANSWER
    assert isinstance(got[1], UnknownEvent) and got[1].kind == "TRANSFER" and got[1].data["to"] == "+919000000009"
    assert got[1].data["k_api_key"] == "***" and "kk-secret" not in repr(got[1])
    assert isinstance(got[2], UnknownEvent) and got[2].kind is None and got[2].data == {"hello": "world"}


async def test_malformed_messages_are_skipped_and_logged(fake: FakeKnowlarity, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_stream(fake, []) as stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        fake.publish("{this is: [not json")
        fake.publish('"just a string"')
        fake.publish(f'{{"oops": "{SR_KEY}" ]')
        fake.publish(cdr("call-3", start_time="31st of never", call_duration="n/a"))
        fake.publish(cdr("call-4", start_time="Thu, 30 Mar2017 18:24:24 +0530", end_time="not a date"))
        got = [await first, await anext(items)]
    assert stream.stats.malformed == 3
    assert isinstance(got[0], UnknownEvent) and got[0].kind == "CDR" and "call_duration" in (got[0].error or "")
    assert got[0].data["start_time"] == "31st of never"
    assert isinstance(got[1], Cdr) and got[1].start_time is not None and got[1].end_time is None
    assert got[1].raw["end_time"] == "not a date"
    assert caplog.text.count("skipped a malformed stream message") == 3
    assert SR_KEY not in caplog.text


async def test_replayed_events_are_deduplicated(fake: FakeKnowlarity) -> None:
    sleeps = Sleeps()
    fake.replay_on_connect = [event("call-5", "ORIGINATE"), event("call-5", "AGENT_CALL")]
    async with make_stream(fake, [], sleep=sleeps, backfill=False) as stream:
        items = aiter(stream)
        got = await take(items, 2)
        fake.drop()  # the server replays both events on the new connection
        nxt = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        await asyncio.sleep(0.05)
        fake.publish(event("call-5", "AGENT_CALL"))
        fake.publish(event("call-5", "AGENT_ANSWER"))
        got.append(await nxt)
    assert [i.kind for i in got] == ["ORIGINATE", "AGENT_CALL", "AGENT_ANSWER"]
    assert stream.stats.duplicates == 3 and stream.stats.connects == 2 and fake.connects == 2


async def test_a_drop_resumes_with_no_duplicate_and_no_gap(fake: FakeKnowlarity, client: KnowlarityClient) -> None:
    clock = Clock()
    states: list[StreamState] = []
    sleeps = Sleeps()
    stream = make_stream(fake, states, client=client, now=clock, sleep=sleeps)
    async with stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        # Call A completes live; long call L starts live and is still open at the drop.
        fake.publish(event("A", "ORIGINATE"))
        fake.publish(event("L", "ORIGINATE"))
        fake.publish(event("A", "HANGUP"))
        fake.publish(cdr("A"))
        got = [await first, *await take(items, 3)]
        clock.advance(20 * 60)  # 20 minutes later the stream drops
        fake.records = [
            record("old", T0 - timedelta(hours=3)),              # long before: not part of the gap
            record("A", T0 + timedelta(seconds=1)),              # seen live: must not repeat
            record("L", T0 + timedelta(seconds=2), duration=1500),  # started before the drop, ended in the gap
            record("B", clock.now + timedelta(seconds=5)),       # happened entirely in the gap
            record("C", clock.now + timedelta(seconds=9), direction="Outbound"),
        ]
        fake.drop()
        clock.advance(10)
        got += await take(items, 3)
        fake.publish(cdr("B"))  # the server's late CDR for B: already backfilled
        fake.publish(event("D", "ORIGINATE"))
        got.append(await anext(items))
    kinds = [(i.uuid, i.kind, getattr(i, "backfilled", False)) for i in got]
    assert kinds == [
        ("A", "ORIGINATE", False), ("L", "ORIGINATE", False), ("A", "HANGUP", False), ("A", "CDR", False),
        ("L", "CDR", True), ("B", "CDR", True), ("C", "CDR", True),
        ("D", "ORIGINATE", False),
    ]
    backfilled_c = got[6]
    assert isinstance(backfilled_c, Cdr) and backfilled_c.call_type == "Outgoing"
    assert backfilled_c.caller_id == "+919000000001" and backfilled_c.destination == "+919800000002"
    assert backfilled_c.record is not None and backfilled_c.agent_number == "+919000000001"
    assert backfilled_c.timezone_offset == "+0530" and backfilled_c.resource_url == "https://rec.example/C.mp3"
    # The window reached back to the open call's start, not just to the drop.
    query = fake.calllog_requests[0]
    assert query["start_time__gt"] == "2024-05-01 09:59:30" and query["limit"] == 200
    assert [s.status for s in states] == ["connecting", "live", "retrying", "connecting", "live"]
    assert states[2].retry_in == 0.5 and states[2].reason == "the stream ended"  # the first retry after a drop is short
    assert str(states[2]) == "retrying in 0.5 s (the stream ended)"
    assert stream.stats.backfilled == 3 and stream.stats.duplicates == 1


async def test_backfill_failure_keeps_the_stream_live(fake: FakeKnowlarity) -> None:
    broken = KnowlarityClient(base_url=fake.base_url, sr_api_key=SR_KEY, api_key="wrong-app-key", retries=0)
    async with broken, make_stream(fake, [], client=broken) as stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        fake.publish(event("E", "ORIGINATE"))
        await first
        fake.drop()
        nxt = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        fake.publish(event("E", "HANGUP"))
        assert (await nxt).kind == "HANGUP"
    assert "toauthenticate is incorrect" in (stream.stats.last_backfill_error or "")
    assert "wrong-app-key" not in (stream.stats.last_backfill_error or "")


async def test_server_errors_back_off_exponentially_then_recover(fake: FakeKnowlarity) -> None:
    sleeps = Sleeps()
    states: list[StreamState] = []
    fake.next_statuses = [500, 503, 502]
    async with make_stream(fake, states, sleep=sleeps, backoff=Backoff(base=1.0, factor=2.0, cap=3.0)) as stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        fake.publish(event("F", "ORIGINATE"))
        assert (await first).uuid == "F"
    assert sleeps.delays == [1.0, 2.0, 3.0]  # capped
    retrying = [s for s in states if s.status == "retrying"]
    assert [s.attempt for s in retrying] == [1, 2, 3] and retrying[0].reason.startswith("HTTP 500")
    assert states[-1].status == "live"


async def test_jitter_spreads_reconnects(fake: FakeKnowlarity) -> None:
    sleeps = Sleeps()
    fake.next_statuses = [500]
    async with make_stream(fake, [], sleep=sleeps, rng=lambda: 0.5, backoff=Backoff(base=4.0, jitter=0.5)) as stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        fake.publish(event("G", "ORIGINATE"))
        await first
    assert sleeps.delays == [3.0]


@pytest.mark.parametrize(("status", "reason"), [
    (401, "the stream refused the SR API key (HTTP 401)"),
    (404, "no stream at this URL (HTTP 404)"),
    (400, "the stream refused the request (HTTP 400)"),
])
async def test_auth_and_not_found_fail_at_once(fake: FakeKnowlarity, status: int, reason: str) -> None:
    sleeps = Sleeps()
    states: list[StreamState] = []
    fake.next_statuses = [status]
    async with make_stream(fake, states, sleep=sleeps) as stream:
        got = [item async for item in stream]
    assert got == [] and sleeps.delays == [] and fake.connects == 1
    assert stream.state.status == "failed" and reason in (stream.state.reason or "")
    assert str(stream.state).startswith("failed: ")


async def test_wrong_key_fails_clearly_without_leaking_it(fake: FakeKnowlarity, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad_key = "bad-key-5d1e09-SECRET"
    states: list[StreamState] = []
    stream = LiveStream(fake.base_url + "/update-stream/{sr_api_key}/konnect", sr_api_key=bad_key,
                        on_state=states.append, sleep=Sleeps())
    async with stream:
        assert [item async for item in stream] == []
    reason = stream.state.reason or ""
    assert "HTTP 401" in reason and "Invalid key ***" in reason  # the server echoed the key: hidden
    everything = [caplog.text, repr(stream), stream.display_url, *map(str, states), *map(repr, states)]
    assert all(bad_key not in text for text in everything)
    assert "update-stream/***/konnect" in repr(stream)
    assert "HTTP Request" in caplog.text  # httpx logged the request line, with the key redacted


async def test_unreachable_server_retries_until_max_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    sleeps = Sleeps()
    states: list[StreamState] = []
    stream = LiveStream(f"http://127.0.0.1:{port}/update-stream/{SR_KEY}/konnect", on_state=states.append,
                        sleep=sleeps, rng=lambda: 0.0, max_retries=2)
    async with stream:
        assert [item async for item in stream] == []
    assert len(sleeps.delays) == 2 and sleeps.delays[1] > sleeps.delays[0]
    assert stream.state.status == "failed" and "gave up after 3 attempts" in (stream.state.reason or "")
    assert SR_KEY not in caplog.text and "reconnecting in" in caplog.text


async def test_not_an_event_stream_is_retried(fake: FakeKnowlarity) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>portal</html>", headers={"content-type": "text/html"})

    sleeps = Sleeps()
    states: list[StreamState] = []
    stream = LiveStream(f"http://kpi.example/update-stream/{SR_KEY}/konnect", on_state=states.append,
                        transport=httpx.MockTransport(handler), sleep=sleeps, max_retries=1)
    async with stream:
        assert [item async for item in stream] == []
    assert "not an event stream" in (states[2].reason or "") and stream.state.status == "failed"


async def test_closing_stops_iteration(fake: FakeKnowlarity) -> None:
    stream = make_stream(fake, [])
    items = aiter(stream)
    pending = asyncio.ensure_future(anext(items))
    await fake.wait_subscribers(1)
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 5)


async def test_a_broken_state_observer_does_not_stop_the_stream(fake: FakeKnowlarity) -> None:
    def observer(state: StreamState) -> None:
        raise RuntimeError("observer bug")

    async with LiveStream(fake.stream_url(), on_state=observer, sleep=Sleeps()) as stream:
        items = aiter(stream)
        first = asyncio.ensure_future(anext(items))
        await fake.wait_subscribers(1)
        fake.publish(event("H", "ORIGINATE"))
        assert (await first).uuid == "H"


def test_dedupe_memory_is_bounded() -> None:
    stream = LiveStream(f"http://127.0.0.1:9/update-stream/{SR_KEY}/konnect", dedupe_size=16)
    from console.api import parse_event

    for n in range(40):
        assert not stream.delivered.seen_before(parse_event(event(f"u{n}", "ORIGINATE")))
    assert len(stream.delivered) == 16
    assert stream.delivered.seen_before(parse_event(event("u39", "ORIGINATE")))
    assert not stream.delivered.seen_before(parse_event(event("u0", "ORIGINATE")))  # forgotten long ago


def test_url_template_needs_the_key() -> None:
    with pytest.raises(ValueError, match="needs the SR API key"):
        LiveStream("https://konnect.example:8100/update-stream/{sr_api_key}/konnect")
    with pytest.raises(ValueError, match="http"):
        LiveStream("wss://konnect.example/update-stream/x/konnect")


async def test_from_settings_fills_the_key_into_the_template(fake: FakeKnowlarity) -> None:
    """The stream reaches the account's stream (the fake refuses any other key) and shows the URL without the key."""
    from pydantic import SecretStr

    from console.config import ConsoleSettings

    template = fake.stream_url(key="{sr_api_key}")
    settings = ConsoleSettings(sr_api_key=SecretStr(SR_KEY), api_key=SecretStr(API_KEY), stream_url=template)
    async with LiveStream.from_settings(settings, sleep=Sleeps()) as stream:
        assert stream.display_url == template.replace("{sr_api_key}", "***") and SR_KEY not in repr(stream)
        first = asyncio.ensure_future(anext(aiter(stream)))
        await fake.wait_subscribers(1)
        fake.publish(event("K", "ORIGINATE"))
        assert (await asyncio.wait_for(first, 5)).uuid == "K"


def test_the_api_package_never_imports_textual() -> None:
    import subprocess
    import sys

    code = "import sys, console.api, console.api.stream, console.api.client; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_agent_legs_of_a_hunt_group_are_not_taken_for_duplicates() -> None:
    from console.api import parse_event

    stream = LiveStream(f"http://127.0.0.1:9/update-stream/{SR_KEY}/konnect")
    first = parse_event(event("hunt", "AGENT_CALL", agent_number="+919000000001"))
    second = parse_event(event("hunt", "AGENT_CALL", agent_number="9000000002"))
    replay = parse_event(event("hunt", "AGENT_CALL", agent_number="+91 90000 00002"))
    delivered = stream.delivered
    assert not delivered.seen_before(first) and not delivered.seen_before(second)
    assert delivered.seen_before(replay)
    assert not delivered.seen_before(parse_event(event("hunt", "HANGUP", agent_number="+919000000001")))
    assert delivered.seen_before(parse_event(event("hunt", "HANGUP", agent_number="+919000000002")))
