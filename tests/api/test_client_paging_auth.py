"""Every list read to its end, and the documented USERNAME:KEY and `channel` header forms."""

from __future__ import annotations

import logging

import httpx
import pytest

from console.api import KnowlarityClient

from .helpers import API_KEY, SR_KEY, Recorder, make_client


def tastypie(request: httpx.Request, rows: list[dict], *, limit: int = 2, link: str | None = None) -> httpx.Response:
    """A Tastypie page of `rows` for the request's offset, with a relative `next` link."""
    offset = int(request.url.params.get("offset", "0"))
    limit = int(request.url.params.get("limit", str(limit)))
    chosen = rows[offset:offset + limit]
    more = offset + limit < len(rows)
    nxt = (link if link is not None else f"{request.url.path}?limit={limit}&offset={offset + limit}") if more else ""
    return httpx.Response(200, json={"meta": {"limit": limit, "offset": offset, "next": nxt, "previous": "",
                                              "total_count": len(rows)}, "objects": chosen})


SOUNDS = [{"id": str(i), "soundname": f"s{i}.mp3", "status": str(i % 3)} for i in range(7)]


async def test_lists_follow_next_to_the_last_page() -> None:
    rec = Recorder(lambda r: tastypie(r, SOUNDS))
    async with make_client(rec) as client:
        page = await client.list_sounds()
    assert [s.id for s in page.objects] == [str(i) for i in range(7)]
    assert page.meta.total_count == 7 and not page.meta.next
    assert [r.url.params.get("offset") for r in rec.requests] == [None, "2", "4", "6"]


async def test_a_next_link_to_another_host_or_endpoint_is_not_followed() -> None:
    for link in ("https://evil.example/Basic/v1/account/sound?limit=2&offset=2",
                 "/Basic/v1/account/agent?limit=2&offset=2"):
        rec = Recorder(lambda r, link=link: tastypie(r, SOUNDS, link=link))
        async with make_client(rec) as client:
            page = await client.list_sounds()
        # the link is refused; total_count still says there is more, so offsets are used
        assert len(page.objects) == 7
        assert all(r.url.host == "kpi.example" and r.url.path == "/Basic/v1/account/sound" for r in rec.requests)


async def test_without_next_the_total_count_drives_the_offset() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        response = tastypie(request, SOUNDS, limit=3)
        body = response.json()
        body["meta"]["next"] = None
        return httpx.Response(200, json=body)

    rec = Recorder(answer)
    async with make_client(rec) as client:
        page = await client.list_sounds()
    assert len(page.objects) == 7 and [r.url.params.get("offset") for r in rec.requests] == [None, "3", "6"]


async def test_a_server_that_never_ends_is_cut_off(caplog: pytest.LogCaptureFixture) -> None:
    counter = iter(range(10_000))

    def endless(request: httpx.Request) -> httpx.Response:
        n = next(counter)
        return httpx.Response(200, json={"meta": {"next": f"/Basic/v1/account/sound?offset={n + 1}"},
                                         "objects": [{"id": str(n)}]})

    rec = Recorder(endless)
    async with make_client(rec, max_pages=5) as client:
        with caplog.at_level(logging.WARNING):
            page = await client.list_sounds()
    assert len(page.objects) == 5 and "stopped after 5 pages" in caplog.text
    rec = Recorder(httpx.Response(200, json={"meta": {"next": "", "offset": 0, "total_count": 9},
                                             "objects": [{"id": "1"}]}))
    async with make_client(rec) as client:
        with caplog.at_level(logging.WARNING):
            page = await client.list_sounds()
    # a server that ignores the offset answers page 1 again: stop, keep no duplicate
    assert len(rec.requests) == 2 and [s.id for s in page.objects] == ["1"] and "ignored offset" in caplog.text


async def test_every_list_endpoint_is_walked() -> None:
    rows = [{"id": str(i)} for i in range(5)]
    for method in ("list_numbers", "list_plans", "list_phonebooks", "list_sounds", "list_campaigns", "list_tasks",
                   "list_notifications"):
        rec = Recorder(lambda r: tastypie(r, rows))
        async with make_client(rec) as client:
            page = await getattr(client, method)()
        assert len(page.objects) == 5 and len(rec.requests) == 3, method


DOCUMENTED_USER_FORMS = {
    # method, args: (Authorization, x-api-key) with username "acme"
    "list_plans": ((), (f"acme:{SR_KEY}", API_KEY)),
    "available_numbers": ((1,), (f"acme:{SR_KEY}", API_KEY)),
    "list_tasks": ((), (f"acme:{SR_KEY}", API_KEY)),
    "get_task": ((7,), (f"acme:{SR_KEY}", API_KEY)),
    "list_agents": ((), (SR_KEY, f"acme:{API_KEY}")),
    "get_agent": ((7,), (SR_KEY, f"acme:{API_KEY}")),
    "list_numbers": ((), (SR_KEY, API_KEY)),
    "list_sounds": ((), (SR_KEY, API_KEY)),
    "list_notifications": ((), (SR_KEY, API_KEY)),
    "list_circles": ((), (SR_KEY, API_KEY)),
    "detailed_call_log": (("u1",), (SR_KEY, API_KEY)),
}


@pytest.mark.parametrize("method", sorted(DOCUMENTED_USER_FORMS))
async def test_username_goes_exactly_where_documented(method: str) -> None:
    args, (authorization, app_key) = DOCUMENTED_USER_FORMS[method]
    rec = Recorder(httpx.Response(200, json={"objects": [], "meta": {}}))
    async with make_client(rec, username="acme") as client:
        await getattr(client, method)(*args)
    assert rec.last.headers["authorization"] == authorization
    assert rec.last.headers["x-api-key"] == app_key
    rec = Recorder(httpx.Response(200, json={"objects": [], "meta": {}}))
    async with make_client(rec) as client:  # off by default: bare keys everywhere
        await getattr(client, method)(*args)
    assert (rec.last.headers["authorization"], rec.last.headers["x-api-key"]) == (SR_KEY, API_KEY)


async def test_channel_header_where_the_examples_send_it() -> None:
    rec = Recorder(httpx.Response(200, json={"objects": [], "meta": {}, "message": "ok"}))
    async with make_client(rec, channel="Premium") as client:
        await client.list_tasks()
        assert rec.last.headers["channel"] == "Premium"
        await client.get_task(1)
        assert rec.last.headers["channel"] == "Premium"
        await client.list_notifications()
        assert rec.last.headers["channel"] == "Premium"
        await client.register_notifications("+918047100100")
        assert rec.last.headers["channel"] == "Premium"
        await client.set_notifications("+918047100100", True)
        assert rec.last.headers["channel"] == "Premium"
        await client.list_sounds()
        assert "channel" not in rec.last.headers


def test_username_is_validated_and_never_shows_a_key() -> None:
    with pytest.raises(ValueError, match="username"):
        KnowlarityClient(sr_api_key=SR_KEY, api_key=API_KEY, username="a b")
    with pytest.raises(ValueError, match="username"):
        KnowlarityClient(sr_api_key=SR_KEY, api_key=API_KEY, username="a:b")
    client = KnowlarityClient(sr_api_key=SR_KEY, api_key=API_KEY, username="acme")
    assert SR_KEY not in repr(client)
