"""Odd input from a Stream Node or a user is refused with a reason, never a traceback.

Before: metadata holding a 5,000-digit integer closed the call with 1011 and a "connection
handler failed" traceback; `?sample_rate=infk` or `1e400k` answered HTTP 500 with an
OverflowError traceback, and so did `kconsole bot --sample-rate infk`; full-width digits
were taken as a rate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from voice import protocol
from voice.config import SUPPORTED_RATES
from voice.server import parse_rate

BIG = "9" * 5000


@pytest.mark.parametrize("raw", ["infk", "1e400k", "-infk", "nank", "１６０００", "16_000", "9" * 400, "8000.5", "0x1f40"])
async def test_odd_sample_rates_are_a_400_with_a_reason(bot_factory, caplog, raw: str) -> None:
    bot = await bot_factory()
    with pytest.raises(InvalidStatus) as err:
        await connect(bot.server.url + "?sample_rate=" + raw)
    response = err.value.response
    assert response.status_code == 400
    assert b"sample_rate" in response.body and b"Traceback" not in response.body
    assert "Traceback" not in caplog.text and "OverflowError" not in caplog.text


@pytest.mark.parametrize("metadata", [
    '{"callid": "c1", "virtual_number": "+91", "extra": %s}' % BIG,
    json.dumps("{'callid': 'c1', 'extra': %s}" % BIG),
    "{'callid': 'c1', %s: 1}" % BIG,
    '{"callid": %s}' % BIG,
    '{"callid": "c1", "extra": %s}' % ("[" * 5000 + "]" * 5000),
])
async def test_metadata_with_huge_numbers_is_refused_with_1007(bot_factory, caplog, metadata: str) -> None:
    caplog.set_level(logging.INFO)
    bot = await bot_factory()
    node = await bot.call(metadata=metadata)
    await asyncio.wait_for(node.closed.wait(), 5)
    assert node.ws.close_code == 1007, node.ws.close_reason
    assert "connection handler failed" not in caplog.text and "Traceback" not in caplog.text
    assert "metadata" in (node.ws.close_reason or "")
    ok = await bot.call(callid="after")  # the server goes on
    await ok.wait_count("playAudio")


def test_kconsole_bot_with_a_bad_rate_is_one_line(tmp_path) -> None:
    for raw in ("infk", "1e400k", "１６０００"):
        run = subprocess.run([sys.executable, "-m", "console.cli", "bot", "--sample-rate", raw],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path,
                             env={"PYTHONPATH": str(__import__("pathlib").Path(protocol.__file__).parents[1]),
                                  "PATH": "/usr/bin:/bin"})
        assert run.returncode == 2
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and "--sample-rate" in lines[0] and raw in lines[0], run.stderr


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12) | st.from_regex(r"\A[0-9.eEkK+-]{1,10}\Z"))
def test_parse_rate_answers_a_rate_or_a_value_error(raw: str) -> None:
    try:
        rate = parse_rate(raw)
    except ValueError as exc:
        assert "sample_rate" in str(exc)
    else:
        assert rate in SUPPORTED_RATES and raw.strip().isascii()


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                    max_leaves=20),
       st.booleans())
def test_parse_metadata_answers_metadata_or_a_protocol_error(extra: object, python_style: bool) -> None:
    body = {"callid": "fuzz", "extra": extra}
    raw = json.dumps(repr(body)) if python_style else json.dumps(body)
    try:
        meta = protocol.parse_metadata(raw)
    except protocol.ProtocolError:
        return
    assert meta.callid == "fuzz"
