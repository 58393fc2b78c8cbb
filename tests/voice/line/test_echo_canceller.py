"""The echo canceller on simulated phone lines: the bot's own echo never confirms as
speech, the caller over the bot always does, on 16 kHz linear and 8 kHz G.711 lines,
with noise, drift and jitter; and the parts it rests on (reference timeline, jitter-proof
uplink clock, delay estimate)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.voice.line.bench_free_onset import onset_s
from tests.voice.line.line_speech import rendered_speech
from voice.echo import EchoCanceller
from voice.echo.canceller import MAX_DELAY_MS, QUIET_SKIP_AFTER_BLOCKS, WATCH_AFTER_BLOCKS
from voice.echo.delay import DelayEstimator
from voice.echo.farend import FarEnd, UplinkClock
from voice.line import parse_line_spec
from voice.line.offline import simulate_call
from voice.uplink import Uplink, UplinkOptions

OFF = UplinkOptions(echo_cancel=False)

ECHO_ONLY = [
    (16000, "echo=-6dB@20ms,noise=-55dBFS"),
    (16000, "echo=-6dB@300ms,noise=-50dBFS"),
    (16000, "echo=-12dB@150ms,drift=30ms,vary=3dB,noise=-50dBFS"),
    (8000, "echo=-6dB@150ms,codec=ulaw,noise=-50dBFS"),
    (8000, "echo=-20dB@300ms,codec=alaw,noise=-45dBFS,babble=-50dBFS"),
    (8000, "speakerphone,drift=0ms,jitter=80ms"),
]


@pytest.fixture(scope="module")
def speech() -> dict[tuple[str, int], bytes]:
    return rendered_speech()


@pytest.mark.parametrize(("rate", "spec"), ECHO_ONLY)
def test_the_bots_echo_never_confirms_as_speech(speech: dict, rate: int, spec: str) -> None:
    bot = speech[("bot", rate)][: rate * 2 * 6]
    line = parse_line_spec(spec)
    without = simulate_call(line, rate, bot=bot, options=OFF)
    assert without.onsets, "the line's echo should fool a bare VAD (else this test proves nothing)"
    call = simulate_call(line, rate, bot=bot)
    assert call.onsets == []
    assert call.uplink is not None and call.uplink.aec is not None and call.uplink.aec.delay.delay is not None


DOUBLE_TALK = [
    (16000, "echo=-6dB@150ms,noise=-50dBFS", 2.0),
    (16000, "echo=-20dB@300ms,noise=-50dBFS", 3.5),
    (8000, "echo=-6dB@80ms,codec=ulaw,noise=-50dBFS", 1.2),
    (8000, "echo=-12dB@200ms,codec=ulaw,noise=-50dBFS,jitter=60ms", 2.5),
]


@pytest.mark.parametrize(("rate", "spec", "at"), DOUBLE_TALK)
def test_the_caller_over_the_bot_is_heard_at_once(speech: dict, rate: int, spec: str, at: float) -> None:
    bot, caller = speech[("bot", rate)], speech[("caller", rate)]
    call = simulate_call(parse_line_spec(spec), rate, bot=bot, caller=caller, caller_at=at, seconds=at + 1.5,
                         stop_bot_on_onset=True)
    true_onset = at + onset_s(caller, rate)
    assert len(call.onsets) == 1, [round(o.onset, 2) for o in call.onsets]
    onset = call.onsets[0]
    assert onset.onset >= true_onset - 0.03  # not the echo before the caller spoke
    assert onset.confirmed - true_onset <= 0.15  # and soon


def test_without_the_canceller_the_strong_echo_hides_the_barge_in(speech: dict) -> None:
    """The failure the canceller fixes: the VAD is already 'in speech' on the echo."""
    rate = 16000
    call = simulate_call(parse_line_spec("echo=-6dB@150ms,noise=-50dBFS"), rate, bot=speech[("bot", rate)],
                         caller=speech[("caller", rate)], caller_at=2.0, seconds=3.5, options=OFF)
    assert call.onsets and call.onsets[0].onset < 2.0


def test_delay_found_and_echo_cancelled_on_a_clean_line(speech: dict) -> None:
    rate = 16000
    call = simulate_call(parse_line_spec("echo=-10dB@120ms"), rate, bot=speech[("bot", rate)][: rate * 2 * 5])
    assert call.uplink is not None and call.uplink.aec is not None
    aec = call.uplink.aec
    assert aec.delay.delay_ms is not None and 118 <= aec.delay.delay_ms <= 126  # + the room's direct path
    assert aec.converged and aec.erle_db > 20
    raw = np.frombuffer(bytes(call.uplink_raw), dtype=np.int16)[rate * 2 :].astype(np.float64)
    clean = np.frombuffer(bytes(call.uplink_clean), dtype=np.int16)[rate * 2 :].astype(np.float64)
    assert 10 * np.log10(np.mean(raw**2) / (np.mean(clean**2) + 1)) > 25


@pytest.mark.parametrize(("before", "after"), [(60, 100), (150, 120)])
def test_delay_followed_when_it_changes(speech: dict, before: int, after: int) -> None:
    """The carrier re-adjusts mid-call: the echo delay steps by tens of ms."""
    rate = 8000
    bot = speech[("bot", rate)][: rate * 2 * 8]
    aec = EchoCanceller(rate, 0.0)
    from voice.line import PhoneLine, Playout
    from voice.vad import SpeechStart, VoiceActivityDetector

    vad = VoiceActivityDetector(rate)
    lines = [PhoneLine(parse_line_spec(f"echo=-10dB@{before}ms,codec=ulaw,noise=-55dBFS"), rate),
             PhoneLine(parse_line_spec(f"echo=-10dB@{after}ms,codec=ulaw,noise=-55dBFS,seed=2"), rate)]
    playout, n = Playout(), rate // 50
    sched, sent, onsets, delays = 0.3, 0, 0, []
    for k in range(int(8.5 / 0.02)):
        t = k * 0.02
        while t >= 0.3 and sent < len(bot) and sched - t < 0.8:
            piece = bot[sent : sent + 1600]
            playout.push(piece)
            aec.play(piece, sched)
            sched += len(piece) / 2 / rate
            sent += len(piece)
        frame = lines[0 if t < 4.0 else 1].frame(bytes(2 * n), playout.pull(n))
        aec.arrived(n, t + 0.02)
        onsets += sum(1 for ev in vad.push(aec.process(frame), t + 0.02) if isinstance(ev, SpeechStart))
        delays.append(aec.delay.delay_ms)
    codec_ms = 8  # the simulated telephone band's filters
    assert delays[int(3.9 / 0.02)] is not None and abs(delays[int(3.9 / 0.02)] - before - codec_ms) < 5
    assert delays[-1] is not None and abs(delays[-1] - after - codec_ms) < 5
    assert onsets == 0


def test_bypass_passes_the_caller_untouched_when_nothing_played() -> None:
    aec = EchoCanceller(16000, 0.0)
    rng = np.random.default_rng(1)
    pcm = (rng.standard_normal(16000) * 2000).astype(np.int16).tobytes()
    out = b""
    for i in range(0, len(pcm), 640):
        aec.arrived(320, 0.02 * (i // 640 + 1))
        out += aec.process(pcm[i : i + 640])
    assert out == pcm and not aec.stats().active


def test_odd_frame_sizes_are_reassembled() -> None:
    aec = EchoCanceller(8000, 0.0)
    pcm = (np.arange(8000) % 200 * 50).astype(np.int16).tobytes()
    out = b""
    for i in range(0, len(pcm), 250):
        out += aec.process(pcm[i : i + 250])
    assert out == pcm[: len(out)] and len(pcm) - len(out) < 320


def test_farend_lays_chunks_back_to_back_and_cut_silences_the_rest() -> None:
    far = FarEnd(8000, origin=10.0)
    one = (np.ones(800) * 100).astype(np.int16).tobytes()
    far.play(one, 10.5)
    far.play(one, 10.6 + 0.0001)  # rounding of the playback clock: still contiguous
    assert np.all(far.read(4000, 1600) == 100)
    assert np.all(far.read(3990, 10) == 0)
    far.cut(10.65)
    assert np.all(far.read(4800, 400) == 100) and np.all(far.read(5200, 400) == 0)
    assert not far.sounding(5200, 6000) and far.sounding(4000, 4100)


def test_uplink_clock_ignores_bursts() -> None:
    steady, bursty = UplinkClock(8000, 0.0), UplinkClock(8000, 0.0)
    from voice.line import JitterShaper

    shaper = JitterShaper(100, seed=2)
    for k in range(300):
        due = 0.05 + (k + 1) * 0.02
        steady.arrived(160, due)
        bursty.arrived(160, shaper.release_at(due, 0.02))
    assert shaper.bursts > 2
    assert abs(steady.offset - bursty.offset) <= 8 and bursty.jumps <= 1
    assert abs(bursty.stream_time() - steady.stream_time()) < 0.005


def _call_with_line_change(bot: bytes, rate: int, before: str, after: str, at: float, seconds: float,
                           options: UplinkOptions | None = None) -> tuple[Uplink, int, list[bool]]:
    """The bot talking while the line changes at `at` (the caller takes the phone off a headset,
    or the carrier's echo canceller gives up): returns the front end, onsets, and whether the
    canceller was only watching, block by block."""
    from voice.line import PhoneLine, Playout
    from voice.vad import SpeechStart

    up = Uplink(rate, 0.0, options)
    lines = [PhoneLine(parse_line_spec(before), rate), PhoneLine(parse_line_spec(after), rate)]
    playout, n = Playout(), rate // 50
    sched, sent, onsets, watching = 0.3, 0, 0, []
    for k in range(int(seconds / 0.02)):
        t = k * 0.02
        while t >= 0.3 and sent < len(bot) and sched - t < 0.8:
            piece = bot[sent : sent + rate // 5]
            playout.push(piece)
            up.play(piece, sched)
            sched += len(piece) / 2 / rate
            sent += len(piece)
        frame = lines[0 if t < at else 1].frame(bytes(2 * n), playout.pull(n))
        onsets += sum(1 for ev in up.push(frame, t + 0.02).events if isinstance(ev, SpeechStart))
        watching.append(up.aec is not None and up.aec.watching)
    return up, onsets, watching


def test_a_line_without_echo_is_only_watched(speech: dict) -> None:
    rate = 16000
    call = simulate_call(parse_line_spec("noise=-50dBFS"), rate, bot=speech[("bot", rate)][: rate * 2 * 6])
    aec = call.uplink.aec if call.uplink is not None else None
    assert aec is not None and aec.watching and aec.stats().watching
    assert aec.delay.delay is None and call.onsets == []
    # the filters ran only until the line's coupling was measured (the delay's span and 15 blocks
    # of averaging): with no path found and the uplink at its floor they rest from then on (they
    # used to run until the line was watched, 1.5 s of playback later)
    assert aec.full_blocks <= int(MAX_DELAY_MS / 20) + 1 + 15 + QUIET_SKIP_AFTER_BLOCKS
    tail = rate * 2 * 2
    assert bytes(call.uplink_clean)[-tail:] == bytes(call.uplink_raw)[-tail:]  # watched: the caller's audio untouched


@pytest.mark.parametrize(("rate", "before", "after"), [
    (16000, "noise=-55dBFS", "echo=-20dB@150ms,noise=-55dBFS,seed=2"),
    (8000, "codec=ulaw,noise=-50dBFS", "echo=-20dB@300ms,codec=ulaw,noise=-50dBFS,seed=2"),
])
def test_an_echo_appearing_later_wakes_the_canceller(speech: dict, rate: int, before: str, after: str) -> None:
    bot = speech[("bot", rate)]
    bot = (bot * 2)[: rate * 2 * 9]
    _, bare, _ = _call_with_line_change(bot, rate, before, after, 4.5, 9.0, OFF)
    assert bare > 0, "the new echo should fool a bare VAD (else this test proves nothing)"
    up, onsets, watching = _call_with_line_change(bot, rate, before, after, 4.5, 9.0)
    assert watching[int(4.4 / 0.02)], "the line without echo should have been only watched"
    assert onsets == 0
    aec = up.aec
    assert aec is not None and aec.wakes >= 1 and not aec.watching
    delay_ms = float(after.split("@")[1].split("ms")[0])
    assert aec.delay.delay_ms is not None and abs(aec.delay.delay_ms - delay_ms) < 15


@pytest.mark.parametrize(("rate", "spec"), [(16000, "noise=-50dBFS"), (8000, "codec=ulaw,noise=-50dBFS")])
def test_the_caller_over_the_bot_on_a_line_without_echo_keeps_their_level(speech: dict, rate: int, spec: str) -> None:
    """Once the line has shown it has no echo, the caller talking over the bot passes nearly as
    it is. (A canceller that rested before measuring the line's coupling woke up assuming the
    worst at every delay and took 6 dB off the caller: the recogniser then missed their words.)"""
    bot, caller = speech[("bot", rate)], speech[("caller", rate)]
    at = 2.5
    call = simulate_call(parse_line_spec(spec), rate, bot=bot, caller=caller, caller_at=at,
                         seconds=at + len(caller) / 2 / rate + 0.3)
    raw = np.frombuffer(bytes(call.uplink_raw), dtype=np.int16).astype(np.float64)
    clean = np.frombuffer(bytes(call.uplink_clean), dtype=np.int16).astype(np.float64)
    start, end = int(at * rate), min(len(raw), len(clean), int((at + len(caller) / 2 / rate) * rate))
    kept_db = 10 * np.log10(np.sum(clean[start:end] ** 2) / np.sum(raw[start:end] ** 2))
    assert kept_db > -4.0


def test_a_path_found_where_no_echo_comes_back_is_forgotten(speech: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spurious lock (the caller's voice correlating with the bot's in double talk) used to keep
    the full canceller running on every block for the rest of the call."""
    rate = 16000
    pushes = {"n": 0}
    real = DelayEstimator.push

    def locks_on_nothing(self: DelayEstimator, mic: np.ndarray, ref: np.ndarray, audible: bool) -> bool:
        changed = real(self, mic, ref, audible)
        pushes["n"] += 1
        if pushes["n"] == 60 and self.delay is None:  # 1.2 s into the playback: a lock on nothing
            return self._accept(rate * 60 // 1000)
        return changed

    monkeypatch.setattr(DelayEstimator, "push", locks_on_nothing)
    call = simulate_call(parse_line_spec("noise=-50dBFS"), rate, bot=speech[("bot", rate)][: rate * 2 * 6])
    aec = call.uplink.aec if call.uplink is not None else None
    assert aec is not None and pushes["n"] >= 60
    assert aec.paths_forgotten == 1 and aec.delay.delay is None and aec.watching
    assert aec.full_blocks <= WATCH_AFTER_BLOCKS + QUIET_SKIP_AFTER_BLOCKS  # not every active block
    assert call.onsets == []


def test_a_real_path_is_kept_while_its_echo_is_gone(speech: dict) -> None:
    """The caller mutes the phone for a while: the path the filter cancelled along is kept, so
    the echo is cancelled at once when they unmute (only a path nothing was ever cancelled along
    is forgotten)."""
    rate = 16000
    bot = (speech[("bot", rate)] * 2)[: rate * 2 * 9]
    up, onsets, _ = _call_with_line_change(bot, rate, "echo=-20dB@150ms,noise=-55dBFS,seed=2", "noise=-55dBFS", 3.0, 9.0)
    aec = up.aec
    assert aec is not None and onsets == 0
    assert aec.paths_forgotten == 0 and aec.delay.delay_ms is not None and abs(aec.delay.delay_ms - 150) < 15


def test_the_caller_over_the_bot_on_a_watched_line_is_heard_at_once(speech: dict) -> None:
    rate = 8000
    bot, caller = speech[("bot", rate)], speech[("caller", rate)]
    at = 4.0
    call = simulate_call(parse_line_spec("codec=ulaw,noise=-50dBFS"), rate, bot=bot, caller=caller, caller_at=at,
                         seconds=at + 1.5, stop_bot_on_onset=True)
    aec = call.uplink.aec if call.uplink is not None else None
    assert aec is not None and aec.wakes >= 1  # it was watching, and the caller's voice woke it
    true_onset = at + onset_s(caller, rate)
    assert len(call.onsets) == 1
    assert 0 <= call.onsets[0].confirmed - true_onset <= 0.15


def test_cancellers_of_many_calls_do_not_share_what_they_learnt(speech: dict) -> None:
    """A block's temporaries are shared by every canceller of a thread: interleaving two calls
    block by block gives each the output it gets alone."""
    rate, n = 16000, 320
    bot = np.frombuffer(speech[("bot", rate)][: rate * 2 * 4], dtype=np.int16)
    rng = np.random.default_rng(3)

    def uplink(delay: int, gain: float) -> np.ndarray:
        echo = np.zeros(len(bot) + delay)
        echo[delay:] = bot * gain
        return np.clip(echo[: len(bot)] + rng.standard_normal(len(bot)) * 30, -32768, 32767).astype(np.int16)

    lines = [uplink(2400, 0.5), uplink(800, 0.2)]

    def run(which: list[int]) -> dict[int, bytes]:
        aecs = {i: EchoCanceller(rate, 0.0) for i in which}
        for a in aecs.values():
            for k in range(0, len(bot), 1600):
                a.play(bot[k : k + 1600].tobytes(), k / rate)
        out = dict.fromkeys(which, b"")
        for k in range(len(bot) // n):
            for i, a in aecs.items():
                a.arrived(n, (k + 1) * n / rate)
                out[i] += a.process(lines[i][k * n : (k + 1) * n].tobytes())
        assert all(a.full_blocks > 100 for a in aecs.values())  # (the filters and the suppressor ran)
        return out

    together = run([0, 1])
    assert together[0] == run([0])[0] and together[1] == run([1])[1]
