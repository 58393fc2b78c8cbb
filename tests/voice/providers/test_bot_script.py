"""Bot scripts: loading (with errors that name line and field) and ScriptedLLM's behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.providers.base import END_CALL_TOOL, TRANSFER_TOOL, ChatMessage, TextDelta, ToolCall
from voice.providers.script import BotScript, ScriptedLLM, ScriptError, load_script, parse_script

TOOLS = [TRANSFER_TOOL, END_CALL_TOOL]

GOOD = """
greeting = "Hi!"
goodbye = "Bye!"
fallback = ["Sorry?"]

[[intents]]
name = "hours"
phrases = ["when are you open"]
replies = ["Nine to five.", "From nine until five."]

[[intents]]
name = "human"
action = "transfer"
keywords = ["person"]
replies = ["Putting you through."]
"""


@pytest.fixture(scope="module")
def script() -> BotScript:
    return load_script(None)


@pytest.fixture(scope="module")
def llm(script) -> ScriptedLLM:
    return ScriptedLLM(script)


def turn(llm: ScriptedLLM, said: str, history: list[ChatMessage] | None = None, tools=TOOLS):
    messages = [ChatMessage("system", "x"), ChatMessage("assistant", llm.greeting), *(history or []), ChatMessage("user", said)]
    return llm.respond(messages, tools)


def test_packaged_script_loads_with_the_receptionist_intents(script):
    names = {i.name for i in script.intents}
    assert {"hours", "prices", "order_status", "order_number", "location", "agent", "thanks", "goodbye"} <= names
    assert script.intent("agent").action == "transfer"
    assert script.intent("goodbye").action == "end_call"
    assert "Acme" in script.greeting


def test_vocabulary_has_phrases_keywords_and_numbers(script):
    vocab = script.vocabulary()
    assert "what are your opening hours" in vocab
    assert "representative" in vocab and "seven" in vocab
    assert len(vocab) == len(set(vocab))
    assert all(v == v.lower() and "?" not in v for v in vocab)


@pytest.mark.parametrize(
    ("said", "intent"),
    [
        ("What are your opening hours?", "hours"),
        ("are you open on sunday", "hours"),
        ("how much does it cost", "prices"),
        ("where is my order", "order_status"),
        ("what's your address", "location"),
        ("can I speak to a person please", "agent"),
        ("thanks a lot", "thanks"),
        ("okay goodbye", "goodbye"),
        ("hello", "hello"),
        # what a recogniser makes of it: misheard and stray words still land
        ("what our your opening ours", "hours"),
        ("i want to talk to some one a human", "agent"),
    ],
)
def test_intents_match_natural_and_misheard_lines(llm, said, intent):
    _, _, match = turn(llm, said)
    assert match.intent is not None and match.intent.name == intent


def test_unrelated_speech_gets_the_fallback(llm, script):
    text, call, match = turn(llm, "the weather is lovely in paris")
    assert match.intent is None and call is None and text == script.fallback[0]
    again, _, _ = turn(llm, "purple elephants", [ChatMessage("user", "x"), ChatMessage("assistant", text)])
    assert again == script.fallback[1], "fallback lines rotate"


def test_replies_rotate_when_asked_again(llm):
    first, _, _ = turn(llm, "what are your opening hours")
    second, _, _ = turn(llm, "when are you open", [ChatMessage("user", "hours?"), ChatMessage("assistant", first)])
    assert first != second


def test_order_number_follow_up_reads_the_number_back(llm):
    ask, _, _ = turn(llm, "where is my order")
    assert "order number" in ask
    reply, _, match = turn(llm, "it's one two three four five", [ChatMessage("user", "where is my order"), ChatMessage("assistant", ask)])
    assert match.intent is not None and match.intent.name == "order_number"
    assert "one two three four five" in reply and "{number}" not in reply
    same, _, _ = turn(llm, "one two three four five", [ChatMessage("assistant", ask)])
    assert same == reply, "the same order always has the same status"


def test_transfer_only_when_the_tool_is_offered(llm, script):
    text, call, _ = turn(llm, "connect me to an agent")
    assert call == ToolCall("transfer_to_agent", {}) and text
    text, call, _ = turn(llm, "connect me to an agent", tools=[END_CALL_TOOL])
    assert call is None and text == script.no_transfer[0]


def test_goodbye_ends_the_call_when_offered(llm, script):
    text, call, _ = turn(llm, "goodbye")
    assert call == ToolCall("end_call", {}) and text
    _, call, _ = turn(llm, "goodbye", tools=[])
    assert call is None


async def test_stream_yields_words_then_the_tool_call(llm):
    messages = [ChatMessage("user", "I would like to speak to a human")]
    out = [d async for d in llm.stream(messages, TOOLS)]
    words = [d for d in out if isinstance(d, TextDelta)]
    assert len(words) > 3 and "".join(d.text for d in words) == "Of course. Let me put you through to a colleague."
    assert out[-1] == ToolCall("transfer_to_agent", {})


async def test_stream_with_word_delay_is_cancellable():
    import asyncio

    llm = ScriptedLLM(load_script(None), word_delay=0.05)
    agen = llm.stream([ChatMessage("user", "what are your prices")], TOOLS)
    assert isinstance(await agen.__anext__(), TextDelta)
    task = asyncio.ensure_future(agen.__anext__())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_load_from_file_and_custom_script(tmp_path: Path):
    p = tmp_path / "mine.toml"
    p.write_text(GOOD)
    s = load_script(p)
    llm = ScriptedLLM(s)
    assert llm.greeting == "Hi!"
    assert llm.respond([ChatMessage("user", "when are you open?")], TOOLS)[0] == "Nine to five."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('greeting = "Hi"\nfallback = [', r"not valid TOML: Invalid value \(at end of document\)"),
        ('greeting = "Hi"\ngoodbye = \n', r"not valid TOML: .*line 2"),
        (GOOD.replace('action = "transfer"', 'action = "dance"'), r"line 13, intents\[1\]\.action \(intent 'human'\): Input should be 'transfer' or 'end_call'"),
        (GOOD.replace('goodbye = "Bye!"\n', ""), r"goodbye: Field required"),
        (GOOD.replace('replies = ["Putting you through."]', ""), r"line 11, intents\[1\] \(intent 'human'\): needs at least one reply"),
        (GOOD.replace('keywords = ["person"]', 'keywords = ["person"]\ncolour = "red"'), r"intents\[1\]\.colour .*Extra inputs are not permitted"),
        (GOOD.replace('name = "human"', 'name = "hours"'), r"intent name 'hours' is used twice"),
        (GOOD.replace('replies = ["Nine to five.", "From nine until five."]', 'replies = ["Order {number}"]'), r"capture"),
        (GOOD + '\n[[intents]]\nname = "x"\nafter = ["nope"]\nkeywords = ["x"]\nreplies = ["x"]\n', r"unknown intent 'nope'"),
    ],
)
def test_bad_scripts_name_line_and_field(text, expected):
    with pytest.raises(ScriptError, match=expected):
        parse_script(text, source="bad.toml")


def test_missing_and_binary_files_are_clear(tmp_path: Path):
    with pytest.raises(ScriptError, match="does not exist"):
        load_script(tmp_path / "nope.toml")
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScriptError, match="not UTF-8"):
        load_script(p)
