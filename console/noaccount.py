"""The console without a Knowlarity account: only the Bot view has data.

A supervisor watching bots (`kconsole --bot URL` or `--bus redis://...`) needs no
Knowlarity keys. Rather than teach every view about a missing client, the console gets a
client whose every request is answered, locally, with a 401 carrying one sentence that
says what the view needs; each view already shows a refused request's message. No
request ever leaves the machine.
"""

from __future__ import annotations

import httpx

from console.api.client import KnowlarityClient
from console.config import ConsoleSettings

NO_ACCOUNT = ("this view needs a Knowlarity account: set KNOWLARITY_SR_API_KEY and KNOWLARITY_API_KEY "
              "(or start with --sandbox URL); the Bot view (5) works without one")


class NoAccountTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": NO_ACCOUNT}, request=request)


def account_less_client(settings: ConsoleSettings) -> KnowlarityClient:
    return KnowlarityClient(base_url=settings.base_url, sr_api_key="no-account", api_key="no-account",
                            channel=settings.channel, retries=0, transport=NoAccountTransport())
