"""`kconsole demo` end to end, headless: sandbox traffic, the offline bot and its callers."""

from __future__ import annotations

import re

import pytest

from console import demo
from tests.console.test_launch import parse


async def test_demo_runs_everything_in_one_process_and_shuts_down(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(demo, ["--headless", "5", "--traffic", "60", "--bot-every", "30"])
    parts_seen: list[demo.DemoParts] = []
    original = demo.stop_parts

    async def spy(parts: demo.DemoParts) -> None:
        parts_seen.append(parts)
        await original(parts)

    demo.stop_parts = spy  # type: ignore[assignment]
    try:
        code = await demo.run_demo(args)
    finally:
        demo.stop_parts = original  # type: ignore[assignment]
    out = capsys.readouterr().out
    assert code == 0, out
    assert "stream live" in out
    found = re.search(r"bot calls (\d+) \((\d+) transcript lines", out)
    assert found and int(found.group(1)) >= 1 and int(found.group(2)) >= 1, out
    (parts,) = parts_seen
    assert parts.pacer is not None and parts.pacer.done()
    assert parts.node.active == 0
