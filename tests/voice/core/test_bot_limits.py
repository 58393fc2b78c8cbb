"""The bot's limits: concurrent calls, idle calls, audio faster than real time, tiny-frame
floods, and what recordings may take on disk. Small limits on the 10x test clock; nothing
here asserts a duration."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import wave

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

from tests.voice.core.core_fakes import voiced
from voice import protocol
from voice.clock import MonotonicClock
from voice.limits import AudioBudget, Coalescer, LoopStalls, ThrottledLog
from voice.recording import CallRecorder, RecordingStore


async def _closed_with(node, timeout: float = 5.0) -> int | None:
    await asyncio.wait_for(node.closed.wait(), timeout)
    return node.ws.close_code


async def _gone(bot, call_id: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while call_id in bot.server.sessions:
        assert time.monotonic() < deadline, f"{call_id} still active"
        await asyncio.sleep(0.01)


# ---- max concurrent calls -------------------------------------------------------------------


async def test_the_call_over_the_limit_is_refused_with_1013_and_one_log_line(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(bot_max_calls=2)
    first = await bot.call(callid="c1")
    second = await bot.call(callid="c2")
    await first.wait_count("playAudio")
    await second.wait_count("playAudio")
    async with connect(bot.url(), compression=None) as third:  # refused before it even sends metadata
        try:
            await asyncio.wait_for(third.recv(), 5)
        except ConnectionClosed:
            pass
        assert third.close_code == 1013
    assert len(bot.server.sessions) == 2
    assert caplog.text.count("BOT_MAX_CALLS") == 1
    await first.hang_up()
    await _gone(bot, "c1")
    fourth = await bot.call(callid="c4")  # a slot is free again
    await fourth.wait_count("playAudio")


def test_refusal_lines_are_throttled_with_a_count():
    lines: list[str] = []
    throttled = ThrottledLog(lambda msg, *args: lines.append(msg % args), interval_s=1.0)
    for i in range(50):
        throttled(100.0 + i * 0.01, "refused %d", i)
    throttled(101.5, "refused %d", 99)
    assert lines == ["refused 0", "refused 99 (and 49 more like it in the last 2 s)"]


# ---- idle timeout ---------------------------------------------------------------------------


async def test_a_call_with_no_audio_is_ended_even_while_it_answers_pings(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(bot_idle_timeout_s=3.0)  # 0.3 s on the 10x clock
    node = await bot.call(callid="idle")
    for _ in range(40):  # the client keeps the socket busy with pings (and answers the server's)
        if node.closed.is_set():
            break
        try:
            await asyncio.wait_for(await node.ws.ping(), 1.0)
        except ConnectionClosed:
            break
        await asyncio.sleep(0.02)
    assert await _closed_with(node) == 1000
    assert "disconnect" in node.kinds()
    assert "no audio for 3 s (BOT_IDLE_TIMEOUT_S); ending the call" in caplog.text
    await _gone(bot, "idle")
    assert "call ended: no audio for 3 s" in caplog.text


async def test_a_call_that_streams_audio_is_not_timed_out(bot_factory):
    bot = await bot_factory(bot_idle_timeout_s=3.0)
    node = await bot.call(callid="talking")
    frame = bytes(320)  # 20 ms at 8 kHz... at 16 kHz 10 ms: either way audio keeps arriving
    for _ in range(60):  # ~0.6 s real = 6 s on the test clock, twice the timeout
        await node.ws.send(frame)
        await asyncio.sleep(0.01)
    assert not node.closed.is_set() and "talking" in bot.server.sessions


# ---- the audio budget -----------------------------------------------------------------------


async def test_audio_faster_than_real_time_is_dropped_before_the_session_and_logged_once(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    # Real time: on the 10x test clock a loaded machine's slow reading is seconds of budget.
    bot = await bot_factory(clock=MonotonicClock(), bot_sample_rate=8000, bot_max_frames_per_s=100_000)
    node = await bot.call(callid="fast")
    stt = await bot.providers.stt.wait_stream()
    ten_seconds = bytes(8000 * 2 * 10)
    started = bot.server.clock.now()
    await node.send_pcm(ten_seconds)  # 500 frames as fast as the socket takes them
    await node.wait_for(lambda n: "faster than" in caplog.text or n.closed.is_set(), what="the burst to be read")
    await node.hang_up()
    await _gone(bot, "fast")
    elapsed = bot.server.clock.now() - started
    session_audio_s = stt.received / 16000
    # 2 s of catch-up at 1.5x, then 1.5x the time it took: far less than what was sent
    assert session_audio_s <= 1.5 * (2.0 + elapsed) + 0.1
    assert session_audio_s < 6.0
    assert caplog.text.count("faster than 1.5x real time") == 1
    assert "over the speed budget" in caplog.text


async def test_tiny_frames_are_joined_and_read_at_the_frame_budget(bot_factory, caplog):
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(bot_sample_rate=8000, bot_max_frames_per_s=100, bot_max_audio_speed=50.0)
    node = await bot.call(callid="tiny")
    stt = await bot.providers.stt.wait_stream()
    for _ in range(800):
        await node.ws.send(b"\x01\x00")  # one sample per frame
    await node.wait_for(lambda n: stt.received >= 1400, timeout=10.0, what="the tiny frames to be read")
    session = bot.server.sessions["tiny"]
    assert session.audio_frames <= 800 // 80 + 1  # 10 ms (80 samples) per feed, not one sample
    assert caplog.text.count("more than 100 frames a second") == 1
    await node.hang_up()
    await _gone(bot, "tiny")
    assert "frames late over the frame budget" in caplog.text


def test_budget_allows_real_time_and_a_catch_up_burst_but_not_more():
    rate = 8000
    bursts: list[str] = []
    budget = AudioBudget(rate, 0.0, speed=1.5, frames_per_s=200, on_burst=bursts.append)
    frame = bytes(2 * rate // 50)  # 20 ms
    t = 0.0
    for _ in range(500):  # 10 s in real time: all of it passes
        t += 0.02
        assert budget.pace(t) == 0.0 and budget.admit(len(frame), t)
    catch_up = [budget.admit(len(frame), t) for _ in range(150)]  # a 3 s stall delivered at once
    assert all(catch_up[:140])  # 2 s x 1.5 of catch-up fits
    flood = [budget.admit(len(frame), t) for _ in range(1000)]
    assert sum(flood) < 5 and bursts == ["speed"]
    t += 5.0  # quiet, then a second burst logs again
    [budget.admit(len(frame), t) for _ in range(1000)]
    assert bursts == ["speed", "speed"]
    assert budget.totals.bursts == 2 and budget.totals.dropped_frames > 1500


def test_the_bots_own_stall_is_caught_up_but_a_sender_still_never_gets_past_the_speed_on_average():
    rate, frame = 8000, 320  # 20 ms frames
    stalled = [0.0]
    budget = AudioBudget(rate, 0.0, speed=1.5, frames_per_s=200, stalls=lambda: stalled[0])
    t = 0.0
    for _ in range(250):  # 5 s at 1x
        t += 0.02
        assert budget.admit(frame, t)
        budget.waiting()
    t += 6.0  # the bot's loop stood still for 6 s; the caller went on streaming into the socket
    stalled[0] += 6.0
    backlog = [budget.admit(frame, t) for _ in range(300)]  # 6 s read at once: more than the 3 s cap
    assert all(backlog) and budget.totals.dropped_frames == 0 and budget.stall_credit_s == 6.0
    flood = sum(budget.admit(frame, t) for _ in range(1000))  # then a burst of the caller's own
    assert flood <= 150  # the usual 2 s x 1.5 catch-up, no more: the stall's credit went on its backlog
    admitted_s = (250 + 300 + flood) * 0.02
    assert admitted_s <= 1.5 * t + 2.0 * 1.5 + 1e-9  # never more than speed x wall time plus the cap


def test_without_the_stall_the_same_backlog_is_over_the_budget():
    """What the bot used to do: time the backlog it read late as the caller's burst."""
    budget = AudioBudget(8000, 0.0, speed=1.5, frames_per_s=200)
    t = 0.0
    for _ in range(250):
        t += 0.02
        budget.admit(320, t)
    t += 6.0
    assert sum(budget.admit(320, t) for _ in range(300)) < 300


async def test_loop_stalls_measures_a_blocked_loop():
    stalls = LoopStalls(MonotonicClock())
    stalls.start()
    try:
        await asyncio.sleep(0.12)
        before = stalls.total()
        time.sleep(0.4)  # noqa: ASYNC251 - the stall being measured
        during = stalls.total()  # seen while the ticker has not run yet
        await asyncio.sleep(0.12)
        after = stalls.total()
    finally:
        stalls.stop()
    assert during - before >= 0.2 and after >= during


class ThreadedStreamNode:
    """A Stream Node on its own thread: it streams `frames` frames of `frame_bytes` at 1x real
    time whatever the bot's event loop is doing (as the real one, in another process, does)."""

    def __init__(self, url: str, callid: str, frames: int, frame_bytes: int) -> None:
        self.url, self.frames, self.frame_bytes = url, frames, frame_bytes
        self.meta = protocol.encode_metadata(protocol.CallMetadata(
            callid=callid, virtual_number="+911234567890", customer_number="+919876543210"))
        self.read_all = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with sync_connect(self.url, compression=None) as ws:
            ws.send(self.meta)
            t0 = time.monotonic()
            for k in range(self.frames):
                time.sleep(max(0.0, t0 + k * 0.02 - time.monotonic()))
                ws.send(bytes(self.frame_bytes))
                try:
                    while True:
                        ws.recv(timeout=0)  # the bot's greeting: read it, as a Stream Node plays it
                except TimeoutError:
                    pass
            self.read_all.wait(15.0)

    def __enter__(self) -> ThreadedStreamNode:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.read_all.set()
        self._thread.join(10.0)


async def _read(stt, nbytes: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while stt.received < nbytes and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def test_a_backlog_left_by_the_bots_own_stall_reaches_the_session(bot_factory, caplog):
    """A Stream Node on its own thread streams 1x while the bot's loop is stuck for 3 s
    (more than the 2.2 s catch-up at 1.1x): the backlog is read late, and all of it counts."""
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(clock=MonotonicClock(), bot_sample_rate=8000, bot_max_audio_speed=1.1)
    frames = 5 * 50
    with ThreadedStreamNode(bot.url(), "stalled", frames, 320):
        stt = await bot.providers.stt.wait_stream()
        await _read(stt, 320 * 25, 5.0)
        time.sleep(3.0)  # noqa: ASYNC251 - the bot's loop stands still (starved, or a slow step)
        await _read(stt, 320 * frames)
    assert stt.received == 320 * frames
    assert "faster than" not in caplog.text and "dropped" not in caplog.text


@pytest.mark.parametrize(("stream_rate", "warned"), [(16000, False), (24000, True)])
async def test_a_starved_bot_names_a_real_rate_mismatch_and_no_false_one(bot_factory, caplog, stream_rate, warned):
    """The bot's loop stalls 300 ms after every 600 ms while a 16 kHz call streams: 900 ms of
    audio read in 600 ms of reading is no 24 kHz Stream Node. One that is at 24 kHz is
    still named."""
    caplog.set_level(logging.INFO, logger="voice")
    bot = await bot_factory(clock=MonotonicClock(), bot_sample_rate=16000)
    frames, frame_bytes = 7 * 50, stream_rate * 2 // 50
    with ThreadedStreamNode(bot.url(), "starved", frames, frame_bytes):
        stt = await bot.providers.stt.wait_stream()
        for _ in range(7):
            await asyncio.sleep(0.6)
            time.sleep(0.3)  # noqa: ASYNC251 - a loop starved of CPU
        await _read(stt, frames * frame_bytes)
    mismatch = [r.getMessage() for r in caplog.records if "sample rate mismatch" in r.getMessage()]
    assert len(mismatch) == (1 if warned else 0), mismatch
    if warned:
        assert "24000 Hz" in mismatch[0] and "16000 Hz" in mismatch[0]


def test_coalescer_passes_normal_frames_and_joins_tiny_ones():
    co = Coalescer(8000)  # 10 ms = 160 bytes
    assert co.push(bytes(320)) == bytes(320)
    out = [co.push(b"\x01\x00") for _ in range(80)]
    assert out[:79] == [None] * 79 and out[79] == b"\x01\x00" * 80


# ---- recordings ---------------------------------------------------------------------------


async def test_a_call_that_never_sends_audio_leaves_no_recording(bot_factory, tmp_path):
    bot = await bot_factory(record_dir=tmp_path)
    node = await bot.call(callid="mute")
    await node.wait_count("playAudio")
    await node.hang_up()
    await _gone(bot, "mute")
    assert list(tmp_path.iterdir()) == []
    talker = await bot.call(callid="talker")
    await talker.send_pcm(voiced(16000, 100), pace=0.002)
    await talker.hang_up()
    await _gone(bot, "talker")
    [folder] = list(tmp_path.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["bot.wav", "caller.wav", "events.jsonl"]


def test_caller_track_is_never_longer_than_the_call(tmp_path):
    rec = CallRecorder(tmp_path, "fast", 8000, started=0.0)
    rec.caller_audio(bytes(2 * 8000 * 10), 1.0)  # 10 s of audio one second into the call
    rec.caller_audio(bytes(2 * 8000 * 10), 1.5)
    rec.close(2.0)
    assert rec.folder is not None
    with wave.open(str(rec.folder / "caller.wav")) as wf:
        assert wf.getnframes() == 8000 * 3 // 2  # the call had lasted 1.5 s


def _finished(root, name: str, nbytes: int, age_s: float = 0.0):
    folder = root / name
    folder.mkdir()
    (folder / "caller.wav").write_bytes(bytes(nbytes))
    stamp = time.time() - age_s
    os.utime(folder, (stamp, stamp))
    return folder


def test_store_deletes_the_oldest_recordings_over_the_size_quota_and_keeps_other_files(tmp_path):
    old = _finished(tmp_path, "20260101-000000_a", 400_000, age_s=300)
    mid = _finished(tmp_path, "20260101-000001_b", 400_000, age_s=200)
    new = _finished(tmp_path, "20260101-000002_c", 400_000, age_s=100)
    (tmp_path / "notes.txt").write_text("the operator's own file")
    mine = tmp_path / "keep-me"
    mine.mkdir()
    store = RecordingStore(tmp_path, max_bytes=1_000_000, max_age_s=86400)
    store.scan()
    assert store.used == 1_200_000
    store.prune_now()
    assert not old.exists() and mid.exists() and new.exists()  # the oldest first, down to <= 80 %
    assert (tmp_path / "notes.txt").exists() and mine.exists()
    assert store.used == 800_000 and store.deleted == 1


def test_store_deletes_recordings_older_than_the_age_limit(tmp_path):
    stale = _finished(tmp_path, "20250101-000000_old", 10, age_s=40 * 86400)
    fresh = _finished(tmp_path, "20260101-000000_new", 10, age_s=60)
    store = RecordingStore(tmp_path, max_bytes=10**9, max_age_s=30 * 86400)
    store.scan()
    store.prune_now()
    assert not stale.exists() and fresh.exists()


def test_live_recordings_stop_when_they_alone_fill_the_quota(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    store = RecordingStore(tmp_path, max_bytes=100_000, max_age_s=86400)
    rec = store.recorder("big", 8000, 0.0)
    t = 0.0
    for _ in range(100):  # 10 s of audio = 160 kB, in real time
        t += 0.1
        rec.caller_audio(bytes(1600), t)
    rec.close(t)
    assert rec.folder is not None
    size = sum(f.stat().st_size for f in rec.folder.iterdir())
    assert size <= 100_000 + 200  # the files' headers are not charged
    assert caplog.text.count("at its quota (RECORD_MAX_MB)") == 1
    with wave.open(str(rec.folder / "caller.wav")) as wf:  # what was written stays a valid WAV
        assert 0 < wf.getnframes() <= 50_000


async def test_a_burst_of_recorded_calls_keeps_the_directory_under_its_quota(bot_factory, tmp_path):
    bot = await bot_factory(record_dir=tmp_path, record_max_mb=0.2, bot_sample_rate=8000)
    for i in range(6):
        node = await bot.call(callid=f"r{i}")
        await node.send_pcm(voiced(8000, 1000), pace=0.002)  # 1 s = 16 kB of caller audio, plus the bot's
        await node.hang_up()
        await _gone(bot, f"r{i}")
    await asyncio.sleep(0.2)
    total = sum(f.stat().st_size for d in tmp_path.iterdir() for f in d.iterdir())
    assert total <= 0.2 * 2**20 + 6 * 200
    assert bot.server.recordings is not None and bot.server.recordings.used <= 0.2 * 2**20


async def test_binary_frames_are_still_validated_under_the_budget(bot_factory):
    bot = await bot_factory()
    async with connect(bot.url(), compression=None) as ws:
        meta = protocol.CallMetadata(callid="odd", virtual_number="+911234567890", customer_number="+919876543210")
        await ws.send(protocol.encode_metadata(meta))
        await ws.send(b"\x00\x00\x00")
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        assert ws.close_code == 1007
