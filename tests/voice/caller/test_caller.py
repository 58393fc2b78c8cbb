"""voice.caller against a fake bot on loopback: the wire format, timing, playback, outcomes."""

from __future__ import annotations

import ast
import asyncio
import json
import ssl
import time
import wave
from pathlib import Path

import pytest
import trustme

from tests.voice.caller.caller_fakes import FakeBot, ToneTTS, bad_frames, constant, tone
from voice.audio import chunk_bytes, duration_ms
from voice.caller import (
    SINK_LEAD_S,
    Caller,
    CallerError,
    CallerEvent,
    Conversation,
    Turn,
    build_url,
    place_call,
    read_wav,
    redact_url,
    wav_turn,
)
from voice.protocol import CallMetadata, parse_metadata

SPEED = 8.0
FAST = {"speed": SPEED, "bot_speed": SPEED, "hangup_grace": 0.0}  # the fake bot runs compressed too


class Recorder:
    """An AudioSink that remembers what was written, when, and each clear()."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, bytes]] = []
        self.clears: list[float] = []

    def write(self, pcm: bytes) -> None:
        self.writes.append((time.monotonic(), pcm))

    def clear(self) -> None:
        self.clears.append(time.monotonic())

    @property
    def audio(self) -> bytes:
        return b"".join(p for _, p in self.writes)


async def test_metadata_is_a_json_string_of_a_python_dict(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200)
    meta = CallMetadata(callid="abc-123", virtual_number="+918000000001", customer_number="+919811111111")
    report = await place_call(bot.url, metadata=meta, **FAST, tts=tone_tts)
    assert report.ok, report.describe_outcome()
    raw = bot.calls[0].metadata_raw
    assert isinstance(raw, str)  # a text frame
    outer = json.loads(raw)
    assert isinstance(outer, str) and outer.startswith("{'")  # a JSON string wrapping a Python-style dict
    inner = ast.literal_eval(outer)
    assert inner == {"callid": "abc-123", "virtual_number": "+918000000001", "customer_number": "+919811111111", "call_type": "inbound"}
    assert parse_metadata(raw) == meta


async def test_plain_json_metadata_on_request(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200)
    report = await place_call(bot.url, python_style_metadata=False, **FAST, tts=tone_tts)
    assert report.ok
    assert isinstance(json.loads(bot.calls[0].metadata_raw), dict)
    assert bot.calls[0].metadata.callid == report.call_id


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 32000, 48000])
async def test_frames_are_20_ms_at_every_rate(fake_bot, tone_tts, rate: int) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=300)
    report = await place_call(
        bot.url, [Turn(say="hi there")], sample_rate=rate, rate_in_url=True, **FAST, tts=tone_tts
    )
    assert report.ok, report.describe_outcome()
    call = bot.calls[0]
    assert f"sample_rate={rate}" in call.path
    assert call.frame_sizes and set(call.frame_sizes) == {rate * 2 * 20 // 1000}
    # the caller's line reached the bot whole: 8 characters of the tone voice = 320 ms
    assert len(call.utterances) == 1
    assert abs(duration_ms(len(call.utterances[0]), rate) - 320) <= 40
    assert tone_tts.calls == [("hi there", rate)]


async def test_frames_are_paced_in_real_time(fake_bot, tone_tts) -> None:
    """At speed 1 a frame leaves every 20 ms: over the call, frames ~= elapsed / 20 ms."""
    bot = await fake_bot(speed=1.0, greeting_ms=400)
    report = await place_call(bot.url, speed=1.0, quiet_gap_ms=200.2, tts=tone_tts)
    assert report.ok
    times = bot.calls[0].frame_times
    elapsed_ms = (times[-1] - times[0]) * 1000
    assert elapsed_ms > 400
    expected = elapsed_ms / 20 + 1
    assert 0.8 * expected <= len(times) <= 1.2 * expected + 5


async def test_silence_is_streamed_between_lines(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=300)
    report = await place_call(bot.url, [Turn(say="one"), Turn(say="two")], **FAST, tts=tone_tts)
    assert report.ok
    call = bot.calls[0]
    assert len(call.utterances) == 2
    # far more frames than the two short lines: the line stays open with silence
    assert len(call.frame_sizes) > 3 * (len(call.utterances[0]) + len(call.utterances[1])) // 640


async def test_playback_is_sequential_back_to_back_at_real_time(fake_bot, tone_tts) -> None:
    rate = 16000
    chunks = [constant(rate, 100, v) for v in (1000, 2000, 3000, 4000, 5000)]
    bot = await fake_bot(speed=SPEED, greeting_chunks=chunks)
    sink = Recorder()
    report = await place_call(bot.url, **FAST, sink=sink, tts=tone_tts)
    assert report.ok
    assert sink.audio == b"".join(chunks)  # in order, nothing lost, nothing added
    assert all(len(p) == chunk_bytes(rate, 20) for _, p in sink.writes)  # played in 20 ms slices
    played_for = sink.writes[-1][0] - sink.writes[0][0]
    # 500 ms of audio at real time (compressed): the last slice is handed over 20 ms before
    # the end, and a speaker is kept SINK_LEAD_S ahead
    assert played_for >= 0.9 * (0.48 - SINK_LEAD_S) / SPEED
    assert len(report.replies) == 1 and report.replies[0].audio_ms == pytest.approx(500)
    assert report.replies[0].heard_ms == pytest.approx(500)
    assert report.greeting_ms is not None and report.greeting_ms >= 0
    assert report.bot_audio == b"".join(chunks)


async def test_barge_in_kill_audio_clears_the_queue(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=3000, actions=["tone:300"])
    sink = Recorder()
    events: list[CallerEvent] = []
    report = await place_call(
        bot.url,
        [Turn(say="stop please", interrupt_after_ms=400)],
        **FAST,
        sink=sink,
        tts=tone_tts,
        on_event=events.append,
            )
    assert report.ok, report.describe_outcome()
    assert bot.calls[0].kills_sent == 1 and report.kill_audio_count == 1
    assert sink.clears, "killAudio must silence the sink"
    greeting = report.replies[0]
    assert greeting.interrupted and greeting.audio_ms == pytest.approx(3000)
    assert 400 <= greeting.heard_ms < 1500  # stopped at once, the queued rest never played
    turn = report.turns[0]
    assert turn.barge_in and turn.kill_audio_ms is not None and turn.kill_audio_ms >= 0
    # the answer after the barge-in is heard in full
    assert report.replies[-1].audio_ms == pytest.approx(300) and not report.replies[-1].interrupted
    kinds = [e.kind for e in events]
    assert kinds.index("caller_said") < kinds.index("kill_audio")
    assert "barge-in" in next(e.text for e in events if e.kind == "kill_audio")


async def test_a_second_barge_in_waits_for_the_answer_not_the_reply_the_first_talked_over(fake_bot, tone_tts) -> None:
    """A bot slow to send killAudio leaves the greeting playing after the first line barged
    into it. The second line barges into the answer to the first, not into the greeting
    again right after the first line, which would make the two lines one turn."""
    speed = 4.0  # the late killAudio must land between the first line's end and the bot's answer
    # "one" is 120 ms; the killAudio comes 300 ms after its onset, the answer 300 ms after its end
    bot = await fake_bot(speed=speed, greeting_ms=20000, kill_delay_ms=300, actions=["tone:2000", "tone:300"])
    report = await place_call(
        bot.url,
        [Turn(say="one", interrupt_after_ms=300), Turn(say="two", interrupt_after_ms=300)],
        speed=speed, bot_speed=speed, hangup_grace=0.0,
        tts=tone_tts,
    )
    assert len(bot.calls[0].utterances) == 2  # two lines, two turns
    assert report.ok, report.describe_outcome()
    first, second = report.turns
    assert first.barge_in and second.barge_in
    answers = [r for r in report.replies if r.start_ms > first.speech_start_ms]
    assert answers, "the first line was answered"
    assert second.speech_start_ms > answers[0].start_ms  # into the answer, not the greeting again


async def test_a_turn_waits_for_the_whole_reply(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=300, actions=["tone:1500", "tone:200"])
    report = await place_call(bot.url, [Turn(say="first"), Turn(say="second")], **FAST, tts=tone_tts)
    assert report.ok
    assert report.kill_audio_count == 0  # never spoke over the bot
    first, second = report.turns
    answer = report.replies[1]
    assert second.speech_start_ms >= answer.start_ms + 1500 / SPEED
    assert first.first_audio_ms is not None and second.first_audio_ms is not None


async def test_fixed_delay_turns(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200, actions=["silent", "silent"])
    report = await place_call(
        bot.url, [Turn(say="one", wait=1.0), Turn(say="two", wait=0.5)], **FAST, tts=tone_tts
    )
    assert report.ok
    one, two = report.turns
    assert two.speech_start_ms - one.speech_end_ms >= 1000 / SPEED * 0.9
    assert one.first_audio_ms is None  # the bot stayed silent


async def test_transfer_outcome(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200, actions=["transfer:+919876543210"])
    events: list[CallerEvent] = []
    report = await place_call(bot.url, [Turn(say="a person please")], **FAST, tts=tone_tts, on_event=events.append)
    assert report.outcome == "transferred" and report.transfer_to == "+919876543210" and report.ok
    assert report.describe_outcome() == "transferred to +919876543210"
    assert report.turns[0].first_audio_ms is not None
    assert any(e.kind == "transfer" and "+919876543210" in e.text for e in events)
    assert events[-1].kind == "ended"


async def test_disconnect_outcome(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200, actions=["disconnect"])
    report = await place_call(bot.url, [Turn(say="goodbye")], **FAST, tts=tone_tts)
    assert report.outcome == "disconnected" and report.ok
    assert report.describe_outcome() == "disconnected by the bot"


async def test_a_compressed_caller_waits_for_a_real_time_bot_to_hang_up(fake_bot, tone_tts) -> None:
    """The bot sends disconnect when its real-time clock says the goodbye was played;
    a caller at 5x has heard it long before, but must not hang up first."""
    bot = await fake_bot(speed=1.0, greeting_ms=200, actions=["late_disconnect"])
    report = await place_call(bot.url, [Turn(say="bye")], speed=SPEED, hangup_grace=0.2, tts=tone_tts)
    assert report.outcome == "disconnected", report.describe_outcome()


async def test_completed_conversation_with_transcript(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=300, actions=["echo", "echo"])
    conv = Conversation(name="two lines", turns=(Turn(say="hello bot"), Turn(say="still there")))
    report = await place_call(bot.url, conv, **FAST, tts=tone_tts)
    assert report.outcome == "completed" and report.ok
    speakers = [line.speaker for line in report.transcript]
    assert speakers == ["bot", "caller", "bot", "caller", "bot"]
    assert [line.text for line in report.transcript if line.speaker == "caller"] == ["hello bot", "still there"]
    # the echo of "hello bot" is as long as the line (9 chars x 40 ms), plus the endpointing tail
    assert report.replies[1].audio_ms >= 360
    assert report.to_dict()["turns"][0]["text"] == "hello bot"
    json.loads(report.to_json())  # serialisable, no audio inside
    assert "bot_audio" not in report.to_dict()


async def test_no_audio_cut(fake_bot, tone_tts) -> None:
    bot = await fake_bot(greet=False)
    events: list[CallerEvent] = []
    started = time.monotonic()
    report = await place_call(bot.url, [Turn(say="hello?")], no_audio_timeout=0.3, tts=tone_tts, on_event=events.append)
    assert report.outcome == "no-audio timeout" and not report.ok
    assert "no playAudio within 0.3 s" in report.describe_outcome()
    assert time.monotonic() - started < 3
    assert any(e.kind == "cut" for e in events)
    assert report.turns == []  # the caller never got to speak


async def test_malformed_frames_are_reported_and_the_call_goes_on(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200, before_greeting=bad_frames())
    events: list[CallerEvent] = []
    report = await place_call(bot.url, [Turn(say="hi")], **FAST, tts=tone_tts, on_event=events.append)
    assert report.outcome == "completed"
    assert len(report.protocol_errors) == 6
    joined = " | ".join(report.protocol_errors)
    for needle in ("not JSON", "unknown bot event type 'dance'", "binary frame", "not base64", "mono 16-bit", "destination"):
        assert needle in joined
    assert sum(e.kind == "protocol_error" for e in events) == 6


async def test_strict_mode_ends_on_the_first_protocol_error(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200, before_greeting=["{oops"])
    report = await place_call(bot.url, [Turn(say="hi")], **FAST, tts=tone_tts, strict=True)
    assert report.outcome == "protocol error" and not report.ok
    assert "not JSON" in (report.error or "")


async def test_wrong_rate_audio_is_a_protocol_error_once(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=400, reply_rate=8000)
    report = await place_call(bot.url, sample_rate=16000, **FAST, tts=tone_tts)
    assert report.outcome == "completed" and not report.ok  # a protocol error fails the call
    assert report.problems() == ["protocol error: playAudio at 8000 Hz on a 16000 Hz stream (must match)"]
    assert len(report.protocol_errors) == 1 and "8000 Hz on a 16000 Hz stream" in report.protocol_errors[0]
    assert report.bot_audio_ms == pytest.approx(400, abs=5)  # resampled to the stream's rate


async def test_bot_closing_without_an_event_is_an_error(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=SPEED, greeting_ms=200, actions=["close"])
    report = await place_call(bot.url, [Turn(say="hi")], **FAST, tts=tone_tts)
    assert report.outcome == "error" and not report.ok
    assert "closed the connection (code 1000: bye) without a disconnect event" in (report.error or "")


async def test_connection_refused_is_one_clear_error(unused_tcp_port: int, tone_tts) -> None:
    report = await place_call(f"ws://127.0.0.1:{unused_tcp_port}/voice", tts=tone_tts, open_timeout=2)
    assert report.outcome == "error"
    assert report.error and "cannot connect" in report.error and "refused" in report.error


async def test_wss_with_a_local_certificate(fake_bot, tone_tts) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    bot = await fake_bot(speed=SPEED, greeting_ms=200, ssl_context=server_ctx)
    assert bot.url.startswith("wss://")

    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    ok = await place_call(bot.url, [Turn(say="secure")], ssl_context=trusting, **FAST, tts=tone_tts)
    assert ok.ok, ok.describe_outcome()
    assert bot.calls[-1].utterances

    untrusted = await place_call(bot.url, **FAST, tts=tone_tts)
    assert untrusted.outcome == "error"
    assert "certificate" in (untrusted.error or "") and "--insecure" in (untrusted.error or "")

    insecure = await place_call(bot.url, insecure=True, **FAST, tts=tone_tts)
    assert insecure.ok, insecure.describe_outcome()


async def test_wav_turns_any_rate_and_channels(fake_bot, tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    left = tone(44100, 500, amp=9000)
    import numpy as np

    samples = np.frombuffer(left, dtype="<i2")
    stereo = np.stack([samples, samples], axis=1).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(2)
        wf.setsampwidth(2)
        wf.setframerate(44100)
        wf.writeframes(stereo)
    pcm, rate = read_wav(path)
    assert rate == 44100 and len(pcm) == len(left)
    turn = wav_turn(path)
    assert turn.text == "[stereo.wav 0.5 s]"
    bot = await fake_bot(speed=SPEED, greeting_ms=200, reply_rate=8000)
    report = await place_call(bot.url, [turn], sample_rate=8000, **FAST)
    assert report.ok, report.problems()
    assert abs(duration_ms(len(bot.calls[0].utterances[0]), 8000) - 500) <= 40


@pytest.mark.parametrize("width", [1, 3, 4])
def test_read_wav_sample_widths(tmp_path: Path, width: int) -> None:
    path = tmp_path / f"w{width}.wav"
    import numpy as np

    ref = (np.sin(np.arange(800) / 10) * 20000).astype(np.int32)
    if width == 1:
        raw = ((ref >> 8) + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = (ref << 8).astype("<i4").tobytes()
        raw = b"".join(v[i : i + 3] for i in range(0, len(v), 4))
    else:
        raw = (ref << 16).astype("<i4").tobytes()
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(width)
        wf.setframerate(8000)
        wf.writeframes(raw)
    pcm, rate = read_wav(path)
    got = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    assert rate == 8000 and len(got) == 800
    assert np.max(np.abs(got - ref)) <= (256 if width == 1 else 1)


def test_read_wav_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CallerError, match="not found"):
        read_wav(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFFjunk")
    with pytest.raises(CallerError, match=r"cannot read .* as a PCM WAV"):
        read_wav(bad)


def test_turn_validation() -> None:
    with pytest.raises(CallerError):
        Turn()
    with pytest.raises(CallerError):
        Turn(say="  ")
    with pytest.raises(CallerError):
        Turn(say="x", audio=b"\0\0")
    with pytest.raises(CallerError):
        Turn(say="x", interrupt_after_ms=-1)
    with pytest.raises(CallerError):
        Turn(say="x", wait=-2)


def test_caller_options_are_validated() -> None:
    with pytest.raises(CallerError, match="sample rate"):
        Caller("ws://127.0.0.1:1/voice", sample_rate=11025)
    with pytest.raises(CallerError, match="ws:// or wss://"):
        Caller("http://127.0.0.1:1/voice")
    with pytest.raises(CallerError, match="speed"):
        Caller("ws://127.0.0.1:1/voice", speed=0)


def test_urls() -> None:
    assert build_url("ws://h:1/voice?token=x", sample_rate=8000) == "ws://h:1/voice?token=x&sample_rate=8000"
    assert build_url("ws://h:1/voice?sample_rate=16000", sample_rate=8000) == "ws://h:1/voice?sample_rate=8000"
    assert build_url("wss://h/voice") == "wss://h/voice"
    shown = redact_url("wss://user:pw@h:9/voice/0123456789abcdef0123456789?token=s3cret&sample_rate=8000")
    assert "s3cret" not in shown and "pw" not in shown and "0123456789abcdef" not in shown
    assert "sample_rate=8000" in shown and shown.startswith("wss://h:9/voice/")
    assert "tok42" not in redact_url("ws://h/voice/tok42")  # a short token in the path is a secret too


async def test_tts_failure_is_an_error_outcome(fake_bot) -> None:
    class Broken:
        async def synthesize(self, text: str, *, sample_rate: int):
            raise RuntimeError("espeak exploded")
            yield b""  # pragma: no cover

    bot = await fake_bot(speed=SPEED)
    report = await place_call(bot.url, [Turn(say="hi")], tts=Broken())
    assert report.outcome == "error" and "could not synthesise 'hi': espeak exploded" in (report.error or "")
    assert bot.calls == []  # nothing dialled with a broken voice


async def test_hangup_ends_as_completed(fake_bot, tone_tts) -> None:
    bot = await fake_bot(speed=1.0, greeting_ms=5000)
    caller = Caller(bot.url, tts=tone_tts)
    task = asyncio.create_task(caller.run())
    await asyncio.sleep(0.3)
    caller.hangup()
    report = await asyncio.wait_for(task, 5)
    assert report.outcome == "completed"
    assert report.replies[0].heard_ms < 5000
    await asyncio.wait_for(bot.calls[0].closed.wait(), 5)


async def test_mic_frames_are_recut_to_20_ms(fake_bot) -> None:
    bot = await fake_bot(speed=1.0, greeting_ms=200)

    async def mic():
        for _ in range(10):
            yield bytes(500)  # odd-sized device blocks
            await asyncio.sleep(0.01)

    report = await place_call(bot.url, mic=mic())
    assert report.outcome == "completed"
    await asyncio.wait_for(bot.calls[0].closed.wait(), 5)
    assert bot.calls[0].frame_sizes == [640] * (5000 // 640)


def test_fake_tts_is_deterministic() -> None:
    tts = ToneTTS()

    async def render() -> bytes:
        from voice.caller import render_speech

        return await render_speech(tts, "abc", 16000)

    assert len(asyncio.run(render())) == chunk_bytes(16000, 120)
    assert FakeBot  # the fake bot class is importable for other tests
