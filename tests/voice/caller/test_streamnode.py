"""sandbox.streamnode and sandbox.conversations: scripted callers into a bot, via the sandbox hook."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.conversations import ASK_FOR_A_PERSON, BARGE_IN, DEMO_CONVERSATIONS, by_name
from sandbox.streamnode import CachedSpeech, StreamNode, attach_to_sandbox, call_metadata, detach_from_sandbox
from voice.caller import CallerEvent, Conversation, Turn
from voice.protocol import CallMetadata
from voice.providers.script import IntentMatcher, load_script

SPEED = 8.0
FAST = {"speed": SPEED, "bot_speed": SPEED, "hangup_grace": 0.0}


def test_every_demo_line_is_a_phrase_of_the_default_script() -> None:
    script = load_script()
    phrases = {p.lower(): intent.name for intent in script.intents for p in intent.phrases}
    for conv in DEMO_CONVERSATIONS:
        for turn in conv.turns:
            assert turn.say is not None and turn.say.lower() in phrases, (conv.name, turn.say)
        last = phrases[conv.turns[-1].say.lower()]
        action = script.intent(last).action
        assert {"transferred": "transfer", "disconnected": "end_call"}[conv.expect] == action, conv.name


def test_the_demo_lines_are_recognised_as_their_intents() -> None:
    script = load_script()
    matcher = IntentMatcher(script)
    phrases = {p.lower(): intent.name for intent in script.intents for p in intent.phrases}
    for conv in DEMO_CONVERSATIONS:
        previous = None
        for turn in conv.turns:
            match = matcher.match(turn.say, previous=previous)
            assert match.intent is not None and match.intent.name == phrases[turn.say.lower()], (conv.name, turn.say)
            previous = match.intent.name


def test_the_demo_covers_questions_barge_in_and_transfer() -> None:
    assert {c.expect for c in DEMO_CONVERSATIONS} == {"transferred", "disconnected"}
    assert any(t.interrupt_after_ms is not None for t in BARGE_IN.turns)
    assert by_name("ask-for-a-person") is ASK_FOR_A_PERSON
    with pytest.raises(KeyError, match="there are: hours-prices-goodbye"):
        by_name("nope")


def test_call_metadata_from_any_description() -> None:
    class BotCall:
        def metadata(self) -> dict[str, str]:
            return {"callid": "u1", "virtual_number": "+918000000000", "customer_number": "+919000000000", "call_type": "inbound"}

    class Plain:
        callid = "u2"
        virtual_number = "+918"
        customer_number = "+919"

    assert call_metadata(BotCall()).callid == "u1"
    assert call_metadata({"callid": "u3"}).callid == "u3"
    assert call_metadata(Plain()).customer_number == "+919"
    meta = CallMetadata(callid="u4")
    assert call_metadata(meta) is meta


async def test_place_call_plays_a_demo_conversation(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=300, actions=["tone:300", "tone:300", "transfer:+917000000000"])
    events: list[tuple[str, CallerEvent]] = []
    reports = []
    node = StreamNode(bot.url, tts=tone_tts, on_event=lambda cid, e: events.append((cid, e)), on_report=reports.append, **FAST)
    info = {"callid": "call-1", "virtual_number": "+918047100199", "customer_number": "+919811100000"}
    report = await node.place_call(info, ASK_FOR_A_PERSON)
    assert report.outcome == "transferred" and report.transfer_to == "+917000000000"
    assert [t.text for t in report.turns] == [t.say for t in ASK_FOR_A_PERSON.turns]
    assert bot.calls[0].metadata.callid == "call-1" and bot.calls[0].metadata.virtual_number == "+918047100199"
    assert reports == [report] and list(node.reports) == [report]
    assert events and all(cid == "call-1" for cid, _ in events)
    assert node.active == 0


async def test_lines_are_synthesised_once_per_rate(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200)
    conv = Conversation(name="twice", turns=(Turn(say="hello", wait=1.0), Turn(say="hello", wait=1.0)))
    node = StreamNode(bot.url, tts=tone_tts, **FAST)
    for n in range(2):
        report = await node.place_call({"callid": f"c{n}"}, conv)
        assert report.ok
    assert tone_tts.calls == [("hello", 16000)]
    assert len(bot.calls[0].utterances) == 2


async def test_random_conversations_are_seeded(fake_bot, tone_tts) -> None:
    node_a = StreamNode("ws://127.0.0.1:1/voice", tts=tone_tts, seed=3)
    node_b = StreamNode("ws://127.0.0.1:1/voice", tts=tone_tts, seed=3)
    assert [node_a.pick().name for _ in range(10)] == [node_b.pick().name for _ in range(10)]
    assert len({node_a.pick().name for _ in range(200)}) == len(DEMO_CONVERSATIONS)


async def test_concurrency_is_bounded(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200, actions=["disconnect"] * 3)
    node = StreamNode(bot.url, tts=tone_tts, max_concurrent=1, max_waiting=1, **FAST)
    conv = Conversation(name="bye", turns=(Turn(say="goodbye"),))
    reports = await asyncio.gather(*(node.place_call({"callid": f"c{n}"}, conv) for n in range(3)))
    outcomes = sorted(r.outcome for r in reports)
    assert outcomes == ["disconnected", "disconnected", "error"]
    refused = next(r for r in reports if r.outcome == "error")
    assert "stream node busy: 1 calls active and 1 waiting" in (refused.error or "")
    assert node.refused == 1 and len(bot.calls) == 2
    # one at a time: the second connection opened after the first call's last frame
    first, second = sorted(bot.calls, key=lambda c: c.frame_times[0])
    assert second.frame_times[0] >= first.frame_times[-1]


def test_options_are_checked_at_once() -> None:
    from voice.caller import CallerError

    with pytest.raises(CallerError, match="ws:// or wss://"):
        StreamNode("http://nope/voice")
    with pytest.raises(ValueError, match="max_concurrent"):
        StreamNode("ws://127.0.0.1:1/voice", max_concurrent=0)


async def test_sandbox_inbound_calls_reach_the_bot(sandbox, fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200, actions=["tone:200", "tone:200", "transfer:+917000000001"])
    done = asyncio.Event()
    reports = []

    def finished(report) -> None:
        reports.append(report)
        done.set()

    node = attach_to_sandbox(
        sandbox, bot.url, tts=tone_tts, conversations=[ASK_FOR_A_PERSON], on_report=finished, **FAST
    )
    uuid = sandbox.place_inbound_call(knowlarity_number=sandbox.account.bot_number, customer_number="+919822200000")
    await asyncio.wait_for(done.wait(), 15)
    report = reports[0]
    assert report.outcome == "transferred", report.describe_outcome()
    meta = bot.calls[0].metadata
    assert meta.callid == uuid and meta.virtual_number == sandbox.account.bot_number
    assert meta.customer_number.endswith("9822200000")
    await detach_from_sandbox(sandbox, node)


async def test_sandbox_calls_to_a_silent_bot_are_cut(sandbox, fake_bot, tone_tts) -> None:
    bot = await fake_bot(greet=False)
    done = asyncio.Event()
    reports = []
    node = attach_to_sandbox(
        sandbox, bot.url, tts=tone_tts, no_audio_timeout=0.3,
        on_report=lambda r: (reports.append(r), done.set()), **FAST,
    )
    sandbox.place_inbound_call(knowlarity_number=sandbox.account.bot_number)
    await asyncio.wait_for(done.wait(), 10)
    assert reports[0].outcome == "no-audio timeout"
    await detach_from_sandbox(sandbox, node)


async def test_close_hangs_up_calls_in_progress(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=1.0, greeting_ms=10_000)
    node = StreamNode(bot.url, tts=tone_tts)
    task = node.handle_inbound({"callid": "long"})
    for _ in range(100):
        if node.active:
            break
        await asyncio.sleep(0.02)
    assert node.active == 1
    await node.close()
    report = task.result()
    assert report.outcome == "completed"
    later = await node.place_call({"callid": "after"})
    assert later.outcome == "error" and later.error == "stream node closed"


async def test_cached_speech_renders_once() -> None:
    from tests.voice.caller.caller_fakes import ToneTTS

    tts = ToneTTS()
    cached = CachedSpeech(tts)
    a = b"".join([c async for c in cached.synthesize("hi", sample_rate=8000)])
    b = b"".join([c async for c in cached.synthesize("hi", sample_rate=8000)])
    c = b"".join([c async for c in cached.synthesize("hi", sample_rate=16000)])
    assert a == b and len(c) == 2 * len(a)
    assert tts.calls == [("hi", 8000), ("hi", 16000)]
