"""Raw-HTTP clients for the sandbox tests (httpx, never the project's own client)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from sandbox.server import SandboxServer
from tests.sandbox.sandbox_helpers import AUTH


@pytest_asyncio.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.base_url, headers=AUTH, timeout=10) as c:
        yield c


@pytest_asyncio.fixture
async def anon(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client without keys."""
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as c:
        yield c
