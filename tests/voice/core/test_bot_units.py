"""Unit tests of the core's parts: VAD, sentence splitter, playback clock, recording, metrics, clocks."""

from __future__ import annotations

import asyncio
import math
import wave

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.voice.core.core_fakes import FakeTTS, click, noise_burst, silence, tone, voiced
from voice.bus import StateChanged, TurnMetrics
from voice.clock import ManualClock, ScaledClock
from voice.config import SUPPORTED_RATES
from voice.metrics import LatencyStats, ServerStats, TurnTimer, describe
from voice.playback import ChunkPlayer, PlaybackClock, Speaker, Utterance, heard_text
from voice.prompts import PromptCache
from voice.recording import CallRecorder, dump_events, safe_name
from voice.sentences import SentenceSplitter, split_sentences
from voice.vad import SpeechEnd, SpeechStart, VadConfig, VoiceActivityDetector

# ---- VAD ------------------------------------------------------------------------------------


def _run_vad(rate: int, pcm: bytes, frame_ms: int = 20) -> list:
    vad = VoiceActivityDetector(rate)
    step = 2 * rate * frame_ms // 1000
    events, t = [], 0.0
    for off in range(0, len(pcm), step):
        chunk = pcm[off : off + step]
        t += len(chunk) / 2 / rate
        events += vad.push(chunk, t)
    return events


@pytest.mark.parametrize("rate", SUPPORTED_RATES)
def test_vad_confirms_voice_within_about_120_ms_at_every_rate(rate):
    pcm = silence(rate, 500) + voiced(rate, 600) + silence(rate, 600)
    events = _run_vad(rate, pcm)
    assert [type(e) for e in events] == [SpeechStart, SpeechEnd]
    start, end = events
    assert 0.49 <= start.onset <= 0.53
    assert start.confirmed - 0.5 <= 0.14  # speech began at 0.5 s
    assert 1.05 <= end.end <= 1.13


@pytest.mark.parametrize("rate", SUPPORTED_RATES)
def test_vad_ignores_coughs_clicks_and_short_blips(rate):
    corpus = []
    for seed in range(12):
        corpus += [noise_burst(rate, 120 + 25 * seed, amp=0.2 + 0.05 * seed, seed=seed), silence(rate, 250)]
        corpus += [click(rate), silence(rate, 30 + seed * 10), click(rate), silence(rate, 200)]
    corpus += [voiced(rate, 40), silence(rate, 300), tone(rate, 30, 1000, amp=0.5), silence(rate, 300)]
    assert not [e for e in _run_vad(rate, b"".join(corpus)) if isinstance(e, SpeechStart)]


def test_vad_learns_a_noisy_line_and_still_hears_speech():
    rate = 16000
    import numpy as np

    rng = np.random.default_rng(5)
    hiss = (rng.standard_normal(rate * 2) * 200).astype(np.int16).tobytes()  # ~-44 dBFS of steady hiss
    speech = np.frombuffer(voiced(rate, 500, amp=0.4), dtype=np.int16).astype(np.int32)
    mixed = np.clip(speech + np.frombuffer(hiss[: len(speech) * 2], dtype=np.int16), -32768, 32767)
    events = _run_vad(rate, hiss + mixed.astype(np.int16).tobytes() + hiss)
    assert sum(isinstance(e, SpeechStart) for e in events) == 1


def test_vad_handles_odd_chunks_and_reset():
    rate = 16000
    vad = VoiceActivityDetector(rate)
    pcm = voiced(rate, 400)
    events = []
    for i, off in enumerate(range(0, len(pcm), 333 * 2)):  # chunks that are not whole frames
        events += vad.push(pcm[off : off + 666], 1.0 + i * 0.02)
    assert any(isinstance(e, SpeechStart) for e in events) and vad.in_speech
    assert vad.recent_voice()
    vad.reset()
    assert not vad.in_speech
    assert vad.last_speech_end is not None


def test_vad_config_is_validated():
    with pytest.raises(ValueError):
        VadConfig(frame_ms=25)
    with pytest.raises(ValueError):
        VadConfig(min_speech_ms=400, window_ms=200)


# ---- sentence splitter -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there! How are you today? I am fine.", ["Hello there!", "How are you today?", "I am fine."]),
        ("Please see Dr. Smith at 3.30 today. He is in room 4.",
         ["Please see Dr. Smith at 3.30 today.", "He is in room 4."]),
        ("It costs 4.50 rupees, e.g. for a small one. Thanks!",
         ["It costs 4.50 rupees, e.g. for a small one.", "Thanks!"]),  # the end is flushed as it is
        ("We open at 9 a.m. on weekdays. See you then.", ["We open at 9 a.m. on weekdays.", "See you then."]),
        ("We open at 9 a.m. See you then.", ["We open at 9 a.m.", "See you then."]),
        ("Sure. We can do that.", ["Sure. We can do that."]),  # too short alone: merged
        ("Ask J. Smith about it. Okay?", ["Ask J. Smith about it.", "Okay?"]),
        ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
        ("Wait... what did you say?", ["Wait... what did you say?"]),
        ("No trailing punctuation here", ["No trailing punctuation here"]),
        ("Options:\n- first option here\n- second option", ["Options:", "- first option here", "- second option"]),
    ],
)
def test_splitter_cases(text, expected):
    assert split_sentences(text) == expected


def test_splitter_waits_for_the_next_character_before_cutting():
    s = SentenceSplitter()
    assert s.push("The price is 3.") == []
    assert s.push("5 rupees. Next") == ["The price is 3.5 rupees."]
    assert s.flush() == ["Next"]
    assert s.push("We close at five") == []
    assert s.push(".") == []
    assert s.push(" Bye") == ["We close at five."]


def test_splitter_cuts_run_ons_at_a_comma():
    s = SentenceSplitter(max_chars=60)
    out = s.push("word " * 8 + "and then, " + "more words " * 6)
    assert out and out[0].endswith(",") and len(out[0]) <= 60


@given(st.lists(st.text(alphabet="abc .!?,\n3Dr", max_size=12), max_size=30))
@settings(max_examples=200, deadline=None)
def test_splitter_never_loses_or_invents_text(pieces):
    s = SentenceSplitter()
    out = []
    for p in pieces:
        out += s.push(p)
    out += s.flush()
    assert "".join("".join(pieces).split()) == "".join("".join(out).split())
    assert all(o.strip() == o and o for o in out)


# ---- playback clock and what was heard ----------------------------------------------------------


def test_playback_clock_schedules_back_to_back_and_stops():
    clock = ManualClock()
    pb = PlaybackClock(clock)
    assert not pb.playing()
    assert pb.schedule(0.1) == clock.now()
    assert pb.schedule(0.1) == pytest.approx(clock.now() + 0.1)
    assert pb.remaining() == pytest.approx(0.2)
    pb.stop()
    assert not pb.playing()


def test_heard_text_is_whole_sentences_then_a_word_prefix():
    u1 = Utterance("One two three four.", chunks=[(0.0, 1.0)], complete=True)
    u2 = Utterance("Five six seven eight.", chunks=[(1.0, 0.5), (1.5, 0.5)], complete=True)
    assert heard_text([u1, u2], 0.5) == "One two"
    assert heard_text([u1, u2], 1.0) == "One two three four."
    assert heard_text([u1, u2], 1.5) == "One two three four. Five six"
    assert heard_text([u1, u2], 9.0) == "One two three four. Five six seven eight."
    assert heard_text([u1, u2], 0.0) == ""
    # a sentence still being synthesised is measured against its estimated length
    u3 = Utterance("a b c d e f g h i j", chunks=[(0.0, 0.1)], complete=False)
    text, full = u3.heard(0.1)
    assert not full and len(text.split()) < 10


async def test_speaker_paces_chunks_and_drops_stale_epochs():
    clock = ManualClock()
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    speaker = Speaker(send, 16000, clock, first_chunk_ms=40, chunk_ms=100, lead_ms=300)
    player = ChunkPlayer(speaker, speaker.epoch)
    utt = Utterance("x")
    task = asyncio.create_task(player.play(bytes(32000), utt))  # one second of audio
    await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    assert 1 < len(sent) <= 5  # only ~lead_ms ahead of playback
    assert speaker.playback.remaining() <= 0.3 + 0.1 + 1e-9
    await clock.advance(0.2)
    n = len(sent)
    assert n > 4
    await speaker.kill()
    await clock.advance(1.0)
    await task
    assert sent[-1] == '{"type": "killAudio"}'
    assert len(sent) == n + 1  # nothing of the old epoch after the kill
    assert task.result() is False
    assert not utt.complete


async def test_first_chunk_is_small_after_silence_and_again_after_an_underrun():
    clock = ManualClock()
    sizes: list[int] = []

    async def send(text: str) -> None:
        import base64
        import json

        sizes.append(len(base64.b64decode(json.loads(text)["data"]["audioContent"])) - 44)

    speaker = Speaker(send, 8000, clock, first_chunk_ms=20, chunk_ms=100, lead_ms=5000)
    player = ChunkPlayer(speaker, speaker.epoch)
    utt = Utterance("x")
    await player.feed(bytes(8000 * 2 * 1), utt)
    assert sizes[0] == 320 and sizes[1] == 1600
    await clock.advance(5.0)  # the caller's queue ran dry
    sizes.clear()
    await player.feed(bytes(8000 * 2), utt)
    assert sizes[0] == 320 and sizes[1] == 1600


# ---- prompt cache -----------------------------------------------------------------------


async def test_prompt_cache_renders_once_and_resamples_for_other_rates():
    tts = FakeTTS()
    cache = PromptCache(tts)
    assert await cache.prerender(["Hello there.", "  "], 16000) == []
    assert tts.calls == [("Hello there.", 16000)]
    pcm8 = cache.get("Hello there.", 8000)
    assert pcm8 is not None and abs(len(pcm8) - len(cache.get("Hello there.", 16000)) / 2) < 64
    assert tts.calls == [("Hello there.", 16000)]  # resampled, not re-rendered
    assert cache.get("never rendered", 16000) is None


async def test_prompt_cache_falls_back_and_reports_failures():
    cache = PromptCache(FakeTTS(fail=True), FakeTTS(name="backup"))
    assert await cache.prerender(["Hi there."], 16000) == []
    broken = PromptCache(FakeTTS(fail=True))
    assert await broken.prerender(["Hi there."], 16000) == ["Hi there."]


# ---- recording --------------------------------------------------------------------------------


def test_recorder_places_bot_audio_on_the_timeline_and_drops_what_was_cut(tmp_path):
    rate = 8000
    rec = CallRecorder(tmp_path, "../../etc/passwd", rate, started=100.0)
    rec.caller_audio(bytes(1600), 100.1)  # 100 ms of caller audio: the folder appears now
    assert rec.folder is not None and rec.folder.parent == tmp_path and ".." not in rec.folder.name
    rec.bot_audio(b"\x01\x00" * 800, 100.5)  # 100 ms of bot audio starting 0.5 s in
    rec.bot_audio(b"\x02\x00" * 800, 100.6)
    rec.advance(100.65)  # the first chunk has played, the second is half way
    rec.cut(100.65)  # barge-in: the second chunk's tail never played
    rec.bot_audio(b"\x03\x00" * 800, 101.0)
    rec.event(StateChanged(call_id="x", state="speaking"))
    rec.close(101.05)
    with wave.open(str(rec.folder / "bot.wav")) as wf:
        assert wf.getframerate() == rate and wf.getnchannels() == 1
        frames = wf.readframes(wf.getnframes())
    samples = [int.from_bytes(frames[i : i + 2], "little") for i in range(0, len(frames), 2)]
    assert samples[:4000] == [0] * 4000
    assert samples[4000:4800] == [1] * 800
    assert samples[4800:5200] == [2] * 400  # half of the cut chunk
    assert samples[5200:8000] == [0] * 2800
    assert samples[8000:] == [3] * 400  # the call ended 50 ms into the last chunk
    with wave.open(str(rec.folder / "caller.wav")) as wf:
        assert wf.getnframes() == 800
    assert dump_events(rec.folder / "events.jsonl")[0]["kind"] == "state"
    assert safe_name("") == "call"


def test_recorder_pads_caller_gaps(tmp_path):
    rec = CallRecorder(tmp_path, "gap", 8000, started=0.0)
    rec.caller_audio(bytes(320), 0.02)
    rec.caller_audio(bytes(320), 1.02)  # a one-second network stall before this frame
    rec.close(1.1)
    with wave.open(str(rec.folder / "caller.wav")) as wf:
        assert abs(wf.getnframes() - 8160) <= 160


# ---- metrics and clocks ------------------------------------------------------------------------


def test_turn_timer_and_stats():
    t = TurnTimer(turn=3, caller_stopped=1.0, stt_final=1.2)
    for name, at in (("llm_first_token", 1.5), ("first_sentence", 1.6), ("tts_first_byte", 1.7), ("first_audio", 1.75)):
        t.mark(name, at)
    t.mark("first_audio", 9.0)  # the first mark wins
    m = t.finish("c")
    assert isinstance(m, TurnMetrics)
    assert (m.stt_final_ms, m.first_audio_ms, m.total_ms) == (200.0, 550.0, 750.0)
    assert m.tts_first_byte_ms == pytest.approx(100.0)
    assert "total=750ms" in describe(m)
    g = TurnTimer(turn=0, metadata=5.0, first_audio=5.002).finish("c")
    assert g.greeting_ms == 2.0 and "greeting" in describe(g)
    stats = ServerStats()
    stats.add_turn(m)
    stats.add_turn(g)
    assert stats.turns == 1 and stats.greeting.percentile(50) == 2.0
    ls = LatencyStats("x")
    for v in range(1, 101):
        ls.add(float(v))
    ls.add(None)
    ls.add(math.nan)
    assert ls.percentile(50) == pytest.approx(50.5) and ls.percentile(95) == pytest.approx(95.05)
    assert "p95" in ls.summary() and "no samples" in LatencyStats("y").summary()


async def test_clocks():
    manual = ManualClock(start=0.0)
    woke: list[float] = []

    async def sleeper(d: float) -> None:
        await manual.sleep(d)
        woke.append(manual.now())

    tasks = [asyncio.create_task(sleeper(d)) for d in (0.3, 0.1)]
    await asyncio.sleep(0)
    await manual.advance(0.5)
    await asyncio.gather(*tasks)
    assert woke == [pytest.approx(0.1), pytest.approx(0.3)]
    fast = ScaledClock(100.0)
    t0 = fast.now()
    await fast.sleep(1.0)  # 10 ms of real time
    assert fast.now() - t0 >= 0.99
    with pytest.raises(ValueError):
        ScaledClock(0)
