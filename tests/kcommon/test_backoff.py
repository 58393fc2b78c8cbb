"""The one backoff: short retries while an outage is young, the long cap only after many."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from console.api.stream import LiveStream
from kcommon.backoff import RECONNECT, Backoff

EVENT = {"event_type": "ORIGINATE", "uuid": "u-{n}", "call_direction": "Inbound", "customer_number": "+919811100001"}


def first_retry_after(backoff: Backoff, outage_s: float) -> float:
    """How long after the network is back the first attempt comes (worst case: no jitter off)."""
    t, n = 0.0, 0
    while t < outage_s:
        n += 1
        t += backoff.ceiling(n)
    return t - outage_s


def test_a_20_s_outage_is_noticed_within_a_few_seconds_of_the_network_coming_back() -> None:
    old = Backoff(base=1.0, factor=2.0, cap=30.0)  # the stream's schedule before: 11 s late (31 s)
    assert first_retry_after(old, 20) > 10
    assert first_retry_after(RECONNECT, 20) <= RECONNECT.fast_cap  # type: ignore[operator]
    for outage in (1, 5, 10, 20, 25, 30):
        assert first_retry_after(RECONNECT, outage) <= 3.0
    assert first_retry_after(RECONNECT, 45) <= 12.0  # a long outage is retried less often


def test_the_long_cap_comes_only_after_repeated_failures() -> None:
    delays = [RECONNECT.ceiling(n) for n in range(1, 18)]
    assert delays[:4] == [0.5, 1.0, 2.0, 3.0] and max(delays[:12]) == 3.0
    assert delays[12:] == [6.0, 12.0, 24.0, 30.0, 30.0]
    assert 0.5 * 3.0 <= RECONNECT.delay(6, 0.999) <= RECONNECT.delay(6, 0.0) == 3.0  # jitter only shortens


def test_a_plain_backoff_and_bad_settings() -> None:
    plain = Backoff(base=0.2, factor=2.0, cap=5.0, jitter=0.0)
    assert [plain.ceiling(n) for n in (1, 2, 3, 6, 100, 10_000)] == [0.2, 0.4, 0.8, 5.0, 5.0, 5.0]
    for bad in ({"base": 0}, {"factor": 0.5}, {"cap": 0.1}, {"jitter": 2}, {"fast_cap": 100.0}, {"patience": -1}):
        with pytest.raises(ValueError):
            Backoff(**bad)


async def test_the_live_stream_is_live_again_within_seconds_of_a_20_s_outage() -> None:
    """On an instant clock: the stream drops, the network is gone for 20 s, then back."""
    clock = {"t": 0.0}
    connects: list[float] = []
    outage = (0.0, 20.0)

    async def sleep(delay: float) -> None:
        clock["t"] += delay
        await asyncio.sleep(0)

    def now() -> datetime:
        return datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=clock["t"])

    def handler(request: httpx.Request) -> httpx.Response:
        t = clock["t"]
        if connects and outage[0] <= t < outage[1]:
            raise httpx.ConnectError("network unreachable")
        connects.append(t)
        body = f"data: {json.dumps(EVENT).replace('{n}', str(len(connects)))}\n\n".encode()
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    stream = LiveStream("http://kpi.example/update-stream/k-1234567/konnect", transport=httpx.MockTransport(handler),
                        sleep=sleep, now=now, rng=lambda: 0.0, backfill=False)
    got = []
    async with stream:
        async for item in stream:
            got.append(item)
            if len(got) == 2:
                break
    assert len(connects) == 2
    late = connects[1] - outage[1]
    assert 0 <= late <= 3.0, f"live again {late:.1f} s after the network came back"  # before: 11 s
