"""Shared helpers of the API tests: samples, a recording MockTransport, instant sleeps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from console.api import KnowlarityClient

SAMPLES = Path(__file__).parent / "samples"
SR_KEY = "sr-key-0f3c9a7e-SECRET"
API_KEY = "app-key-77b1d2-SECRET"


def sample(name: str) -> str:
    """A sample response exactly as the documentation prints it."""
    return (SAMPLES / f"{name}.txt").read_text(encoding="utf-8")


class Recorder:
    """A MockTransport handler that records requests and answers from a script."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)


def text_response(body: str, status: int = 200) -> httpx.Response:
    return httpx.Response(status, text=body, headers={"content-type": "application/json"})


class Sleeps:
    """An instant `sleep` that remembers the delays asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def make_client(recorder: Recorder, sleeps: Sleeps | None = None, **kwargs: Any) -> KnowlarityClient:
    return KnowlarityClient(
        base_url="https://kpi.example", sr_api_key=SR_KEY, api_key=API_KEY,
        transport=httpx.MockTransport(recorder), sleep=sleeps or Sleeps(), rng=lambda: 0.0, **kwargs,
    )
