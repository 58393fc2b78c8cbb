"""Every list read to its last page, and the documented header forms, against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.api import AuthError, CallLogQuery, KnowlarityClient
from sandbox.server import DEFAULT_API_KEY, DEFAULT_SR_API_KEY
from sandbox.testing import SandboxFactory

pytestmark = pytest.mark.timeout(60)


def client_for(base_url: str, **kwargs: object) -> KnowlarityClient:
    return KnowlarityClient(base_url=base_url, sr_api_key=DEFAULT_SR_API_KEY, api_key=DEFAULT_API_KEY,
                            retries=0, timeout=10, **kwargs)  # type: ignore[arg-type]


async def test_every_list_is_read_to_its_last_page(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(page_size=3, history=130)
    a = sb.account
    async with client_for(sb.base_url) as client:
        for number in ("+918047100100", "+918047100200", "+918047100300", "+918047100400"):
            await client.register_notifications([number])
        lists = {
            "numbers": (await client.list_numbers(), len(a.numbers)),
            "plans": (await client.list_plans(), len(a.plans)),
            "phonebooks": (await client.list_phonebooks(), len(a.phonebooks)),
            "sounds": (await client.list_sounds(), len(a.sounds)),
            "campaigns": (await client.list_campaigns(), len(a.campaigns)),
            "tasks": (await client.list_tasks(), len(a.tasks)),
            "notifications": (await client.list_notifications(), len(a.registrations)),
        }
        for name, (page, expected) in lists.items():
            assert expected > 3, f"{name}: the account must hold more rows than one page"
            ids = [o.model_dump_json() for o in page.objects]
            assert len(ids) == expected == len(set(ids)) and page.meta.total_count == expected, name
        now = datetime.now(UTC)
        query = CallLogQuery(start_time__gt=now - timedelta(days=89), start_time__lt=now + timedelta(minutes=5),
                             limit=40, get_total=True)
        pages = [p async for p in client.iter_call_log(query)]
        uuids = [r.uuid for p in pages for r in p.objects]
        assert len(pages) == 4 and pages[0].meta.total_count == len(uuids) == len(set(uuids))
        assert len(uuids) == len([r for r in a.calllog.records() if r.ts >= (now - timedelta(days=89)).timestamp()])


async def test_the_username_forms_pass_the_sandboxs_checks(sandbox_factory: SandboxFactory) -> None:
    sb = await sandbox_factory(username="acme")
    async with client_for(sb.base_url, username="acme") as client:
        assert (await client.list_plans()).objects
        assert await client.available_numbers(1)
        assert (await client.list_tasks()).objects
        agents = await client.list_agents()
        assert await client.get_agent(agents[0].id or "")
        assert (await client.list_sounds()).objects  # bare keys where the docs give no username
    async with client_for(sb.base_url, username="someone-else") as client:
        with pytest.raises(AuthError):
            await client.list_tasks()
        assert (await client.list_sounds()).objects
