"""DeepgramSTT against a local server speaking Deepgram's live protocol."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from tests.voice.providers.provider_fakes.deepgram_server import FakeDeepgram
from voice.providers.base import ProviderError, Transcript
from voice.providers.deepgram import DeepgramSTT

KEY = "dg-secret-key-123456"
RATE = 16000
WORDS = {2000: "hello", 4000: "opening hours", 8000: "where are you", 12000: "goodbye"}


def tone(amp: int, ms: int, rate: int = RATE) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.int16).tobytes()


def quiet(ms: int, rate: int = RATE) -> bytes:
    return bytes(rate * ms // 1000 * 2)


@pytest.fixture
async def fake():
    server = FakeDeepgram(KEY, WORDS)
    await server.start()
    yield server
    await server.close()


def provider(fake: FakeDeepgram, **kw) -> DeepgramSTT:
    kw.setdefault("backoff_s", 0.01)
    return DeepgramSTT(KEY, url=fake.url, **kw)


async def send_in_frames(stream, pcm: bytes, frame: int = 640) -> None:
    for i in range(0, len(pcm), frame):
        await stream.send(pcm[i : i + frame])
        await asyncio.sleep(0)


async def collect(stream) -> list[Transcript]:
    return [t async for t in stream.results()]


async def test_transcribes_with_auth_header_and_documented_query(fake):
    stream = await provider(fake).open(sample_rate=RATE, call_id="c1")
    reader = asyncio.create_task(collect(stream))
    await send_in_frames(stream, quiet(100) + tone(4000, 400) + quiet(500) + tone(12000, 300) + quiet(500))
    await stream.close()
    results = await reader
    finals = [t for t in results if t.final]
    assert [t.text for t in finals if t.text] == ["opening hours", "goodbye"]
    # our turn detector decides the end of the turn: pieces are not speech_final, an empty final ends it
    assert not any(t.speech_final for t in finals if t.text)
    assert finals[-1].text == "" and finals[-1].speech_final
    assert any(not t.final and t.text == "opening hours" for t in results), "interim results are passed on"
    conn = fake.connections[0]
    assert conn.authorization == f"Token {KEY}"
    assert conn.query == {
        "model": "nova-2", "language": "en", "encoding": "linear16", "sample_rate": "16000", "channels": "1",
        "interim_results": "true", "endpointing": "100", "utterance_end_ms": "1000", "vad_events": "true",
    }
    assert conn.close_stream, "CloseStream is sent to flush at the end"


async def test_without_turn_detection_deepgram_endpointing_decides(fake):
    stream = await provider(fake, turn=None).open(sample_rate=RATE, call_id="c0")
    reader = asyncio.create_task(collect(stream))
    await send_in_frames(stream, quiet(100) + tone(4000, 400) + quiet(500) + tone(12000, 300) + quiet(500))
    await stream.close()
    finals = [t for t in await reader if t.final]
    assert [t.text for t in finals] == ["opening hours", "goodbye"]
    assert all(t.speech_final for t in finals)
    assert fake.connections[0].query["endpointing"] == "300"


async def test_sample_rate_of_the_call_is_sent(fake):
    stream = await provider(fake).open(sample_rate=8000, call_id="c8")
    reader = asyncio.create_task(collect(stream))
    await send_in_frames(stream, tone(2000, 300, 8000) + quiet(400, 8000), frame=320)
    await stream.close()
    assert [t.text for t in await reader if t.final and t.text] == ["hello"]
    assert fake.connections[0].query["sample_rate"] == "8000"


async def test_keepalive_sent_when_no_audio_flows(fake):
    stream = await provider(fake, keepalive_s=0.05).open(sample_rate=RATE, call_id="ka")
    await asyncio.sleep(0.3)
    await stream.close()
    assert fake.connections[0].keepalives >= 3


async def test_reconnects_after_1011_and_loses_no_speech(fake, caplog):
    caplog.set_level(logging.DEBUG)
    stt = provider(fake)
    first = quiet(100) + tone(2000, 300) + quiet(400)
    # The socket dies in the middle of the second word; audio keeps coming meanwhile.
    fake.drop_after_bytes = len(first) + len(tone(4000, 200))
    stream = await stt.open(sample_rate=RATE, call_id="drop")
    reader = asyncio.create_task(collect(stream))
    await send_in_frames(stream, first + tone(4000, 400) + quiet(400) + tone(8000, 300) + quiet(400))
    await stream.close()
    finals = [t.text for t in await reader if t.final and t.text]
    assert finals == ["hello", "opening hours", "where are you"]
    assert stream.reconnects >= 1
    assert len(fake.connections) >= 2
    assert all(c.authorization == f"Token {KEY}" for c in fake.connections)
    # Our side logs nothing secret even at DEBUG, handshake headers included (the fake server's
    # own websockets logger is not ours).
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server")]
    assert any("Authorization" in m for m in ours), "the handshake was logged (redacted)"
    assert not any(KEY in m for m in ours)


async def test_drop_while_idle_then_speech_after_reconnect(fake):
    stream = await provider(fake).open(sample_rate=RATE, call_id="idle")
    reader = asyncio.create_task(collect(stream))
    hello = tone(2000, 300) + quiet(400)
    await send_in_frames(stream, hello)
    await asyncio.sleep(0.1)  # "hello" is confirmed by now
    await fake.drop_all()
    await send_in_frames(stream, tone(8000, 400) + quiet(400))
    await stream.close()
    assert [t.text for t in await reader if t.final and t.text] == ["hello", "where are you"]
    # The new connection was not sent the confirmed "hello" again (only its trailing silence at most).
    assert fake.connections[-1].audio_bytes <= len(tone(8000, 400) + quiet(400)) + len(quiet(400))


async def test_gives_up_after_bounded_reconnects(fake):
    stt = provider(fake, max_reconnects=2)
    stream = await stt.open(sample_rate=RATE, call_id="dead")
    fake.reject = True
    await fake.drop_all()
    with pytest.raises(ProviderError) as info:
        await collect(stream)
    assert KEY not in str(info.value)
    await stream.close()


async def test_wrong_key_is_a_clear_error_without_the_key(fake, caplog):
    with pytest.raises(ProviderError, match="rejected the API key") as info:
        await DeepgramSTT("wrong-key-999", url=fake.url).open(sample_rate=RATE, call_id="x")
    assert "wrong-key-999" not in str(info.value)
    assert "wrong-key-999" not in caplog.text


async def test_unreachable_server_is_a_provider_error():
    stt = DeepgramSTT(KEY, url="ws://127.0.0.1:9/v1/listen", connect_timeout_s=1)
    with pytest.raises(ProviderError, match=r"cannot reach Deepgram|did not answer|handshake"):
        await stt.open(sample_rate=RATE, call_id="x")


def test_key_never_in_repr_and_bad_url_rejected():
    stt = DeepgramSTT(KEY)
    assert KEY not in repr(stt)
    with pytest.raises(ProviderError):
        DeepgramSTT(KEY, url="https://api.deepgram.com/v1/listen")
    with pytest.raises(ProviderError):
        DeepgramSTT("  ")


async def test_malformed_messages_are_ignored(fake):
    """Junk from the server before any result is skipped, and the stream goes on transcribing."""
    fake.send_first = ["not json", '{"type": "Results", "channel": {}}', "[1, 2]", '{"type": "Results"}']
    stream = await provider(fake).open(sample_rate=RATE, call_id="junk")
    reader = asyncio.create_task(collect(stream))
    await send_in_frames(stream, quiet(100) + tone(4000, 400) + quiet(500))
    await stream.close()
    assert [t.text for t in await reader if t.final and t.text] == ["opening hours"]


async def test_replay_buffer_is_bounded_while_disconnected(fake, caplog):
    stt = provider(fake, replay_s=0.5, backoff_s=0.3, max_reconnects=1)
    stream = await stt.open(sample_rate=RATE, call_id="long")
    fake.reject = True
    await fake.drop_all()
    await asyncio.sleep(0.05)
    await send_in_frames(stream, tone(2000, 2000))
    assert stream.unconfirmed_bytes <= RATE * 2 * 0.5
    assert "dropping the oldest" in caplog.text
    with pytest.raises(ProviderError):
        await collect(stream)
    await stream.close()


async def test_the_stream_ends_with_a_summary_line_in_the_guides_format(fake, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    stream = await provider(fake).open(sample_rate=RATE, call_id="c-sum")
    reader = asyncio.create_task(collect(stream))
    await send_in_frames(stream, quiet(100) + tone(4000, 400) + quiet(500))
    await stream.close()
    await reader
    [line] = [r.getMessage() for r in caplog.records if "Stream summary" in r.getMessage()]
    assert line.startswith("[call_id=c-sum] [DEEPGRAM  ] Stream summary | audio sent=1.0 s | transcripts interim=")
    assert "final=1 | reconnects=0 | errors=0" in line


# ---- our turn decision on top of Deepgram's endpointing, on real (synthesised) speech ----

from bench.turn_corpus import build_turn  # noqa: E402


async def _turn_through(fake: FakeDeepgram, fragments: list[str], pauses: list[int], rate: int) -> tuple[float, float]:
    """Stream a corpus turn (words known to the fake by time); (audio s when the turn ended, real end s)."""
    turn = await build_turn("t", "x", fragments, pauses, rate, ("en-us", 165, 50))
    fake.timeline = list(zip(turn.starts, turn.ends, turn.fragments, strict=True))
    stream = await provider(fake).open(sample_rate=rate, call_id="turn")
    ended_at: list[float] = []
    sent = 0

    async def read() -> None:
        async for t in stream.results():
            if t.final and t.speech_final and not ended_at:
                ended_at.append(sent / 2 / rate)

    reader = asyncio.create_task(read())
    step = rate * 20 // 1000 * 2
    for i in range(0, len(turn.pcm), step):
        await stream.send(turn.pcm[i : i + step])
        sent += len(turn.pcm[i : i + step])
        await asyncio.sleep(0.002)  # ~10x real time: the fake's finals come back between frames
    await stream.close()
    await reader
    assert ended_at, "the turn was ended"
    return ended_at[0], turn.end


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_a_complete_question_ends_its_turn_soon(fake, rate):
    ended, end = await _turn_through(fake, ["What are your opening hours?"], [], rate)
    assert end < ended <= end + 0.5


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_hesitations_and_half_a_phone_number_do_not_end_the_turn(fake, rate):
    ended, end = await _turn_through(fake, ["I want to,", "uh,", "check my order status."], [800, 700], rate)
    assert end < ended <= end + 0.6
    ended, end = await _turn_through(fake, ["My phone number is nine eight four five zero,", "one two three four five."],
                                     [900], rate)
    assert end < ended <= end + 0.6
