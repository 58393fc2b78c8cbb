"""OpenAILLM with the real `openai` client against a local server speaking OpenAI's SSE."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.voice.providers.provider_fakes.openai_server import FakeOpenAI
from voice.providers.base import END_CALL_TOOL, TRANSFER_TOOL, ChatMessage, ProviderError, TextDelta, ToolCall
from voice.providers.openai_llm import OpenAILLM

KEY = "sk-test-secret-0123456789abcdef"
MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "I want a person")]


@pytest.fixture
async def fake():
    server = FakeOpenAI(KEY)
    await server.start()
    yield server
    await server.close()


async def run(llm: OpenAILLM, tools=()) -> list:
    return [d async for d in llm.stream(MESSAGES, list(tools))]


async def test_streams_text_deltas_in_order(fake):
    fake.reply = "We open at nine. See you soon!"
    out = await run(OpenAILLM(KEY, base_url=fake.base_url, model="gpt-test"))
    assert all(isinstance(d, TextDelta) for d in out)
    assert len(out) == 7, "one delta per streamed chunk, not one blob"
    assert "".join(d.text for d in out) == "We open at nine. See you soon!"
    req = fake.requests[-1]
    assert req["model"] == "gpt-test" and req["stream"] is True
    assert req["messages"][1] == {"role": "user", "content": "I want a person"}
    assert "tools" not in req


async def test_tool_call_assembled_from_pieces(fake):
    fake.reply = "Transferring you now."
    fake.tool_calls = [("transfer_to_agent", '{"reason": "asked for a human"}'), ("end_call", "")]
    out = await run(OpenAILLM(KEY, base_url=fake.base_url), [TRANSFER_TOOL, END_CALL_TOOL])
    assert "".join(d.text for d in out if isinstance(d, TextDelta)) == "Transferring you now."
    calls = [d for d in out if isinstance(d, ToolCall)]
    assert calls == [ToolCall("transfer_to_agent", {"reason": "asked for a human"}), ToolCall("end_call", {})]
    assert out[-2:] == calls, "tool calls come after the text"
    names = [t["function"]["name"] for t in fake.requests[-1]["tools"]]
    assert names == ["transfer_to_agent", "end_call"]


async def test_bad_tool_arguments_become_empty(fake):
    fake.reply = ""
    fake.tool_calls = [("end_call", "{not json")]
    assert await run(OpenAILLM(KEY, base_url=fake.base_url), [END_CALL_TOOL]) == [ToolCall("end_call", {})]


async def test_server_error_is_provider_error_with_status(fake):
    fake.mode = "error500"
    with pytest.raises(ProviderError, match="HTTP 500: The server had an error"):
        await run(OpenAILLM(KEY, base_url=fake.base_url))


async def test_wrong_key_message_has_no_key(fake, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError, match="HTTP 401") as info:
        await run(OpenAILLM("sk-wrong-key-which-is-long-9999", base_url=fake.base_url))
    assert "sk-wrong-key-which-is-long-9999" not in str(info.value)
    assert "OPENAI_API_KEY" in str(info.value)
    assert "sk-wrong-key-which-is-long-9999" not in caplog.text


async def test_slow_server_times_out_as_provider_error(fake):
    fake.mode, fake.slow_s = "slow", 3.0
    with pytest.raises(ProviderError, match="timed out"):
        await run(OpenAILLM(KEY, base_url=fake.base_url, timeout_s=0.3))


async def test_connection_cut_mid_stream(fake):
    fake.mode = "cut"
    fake.reply = "one two three four"
    with pytest.raises(ProviderError):
        await run(OpenAILLM(KEY, base_url=fake.base_url))


async def test_unreachable_server():
    with pytest.raises(ProviderError, match="cannot reach OpenAI"):
        await run(OpenAILLM(KEY, base_url="http://127.0.0.1:9/v1", timeout_s=2))


async def test_no_key_for_a_local_compatible_server(fake):
    fake.api_key = "not-needed"  # what Ollama and friends accept
    out = await run(OpenAILLM(None, base_url=fake.base_url))
    assert out and KEY not in repr(OpenAILLM(KEY, base_url=fake.base_url))


def test_bad_base_url_is_rejected():
    with pytest.raises(ProviderError):
        OpenAILLM(KEY, base_url="localhost:11434")


async def test_cancel_midway_is_clean(fake):
    fake.reply = " ".join(["word"] * 200)
    llm = OpenAILLM(KEY, base_url=fake.base_url)
    agen = llm.stream(MESSAGES, [])
    first = await agen.__anext__()
    assert isinstance(first, TextDelta)
    await agen.aclose()
    await asyncio.sleep(0)
