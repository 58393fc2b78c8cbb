"""The replay position (play / pause / step / seek / speed) and the source the Bot view reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.replay_source import ReplaySource
from console.state import ViewFilter
from tests.voice.replay.replay_fixtures import RATE, write_recording
from voice.replay import load_recording
from voice.replay.cursor import ReplayCursor


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakePlayer:
    def __init__(self, rate: int) -> None:
        self.sample_rate = rate
        self.written: list[bytes] = []
        self.cleared = 0

    def write(self, pcm: bytes) -> None:
        self.written.append(pcm)

    def clear(self) -> None:
        self.cleared += 1

    def close(self) -> None:
        pass


def test_cursor_plays_at_speed_and_stops_at_the_end() -> None:
    clock = FakeClock()
    cur = ReplayCursor(10.0, [1.0, 2.5, 7.0], clock=clock)
    assert cur.position == 0 and not cur.playing
    cur.play()
    clock.t += 2
    assert cur.position == pytest.approx(2.0)
    cur.set_speed(3)
    clock.t += 1
    assert cur.position == pytest.approx(5.0)
    cur.pause()
    clock.t += 5
    assert cur.position == pytest.approx(5.0)
    cur.play()
    clock.t += 100
    assert cur.position == 10.0 and not cur.playing and cur.at_end
    cur.play()  # play at the end starts over
    assert cur.position == 0.0


def test_cursor_steps_between_events_and_clamps() -> None:
    cur = ReplayCursor(10.0, [1.0, 2.5, 7.0], clock=FakeClock())
    assert cur.step(1) == 1.0 and cur.step(1) == 2.5 and cur.step(1) == 7.0 and cur.step(1) == 10.0
    assert cur.step(-1) == 7.0 and cur.step(-1) == 2.5
    assert cur.seek(-3) == 0.0 and cur.seek(99) == 10.0 and cur.jump(-4) == 6.0
    assert cur.set_speed(50) == 10.0 and cur.set_speed(0.1) == 1.0
    assert [cur.faster() for _ in range(6)] == [1.5, 2.0, 3.0, 5.0, 10.0, 10.0]
    assert cur.slower() == 5.0


def test_the_source_applies_events_up_to_the_position(tmp_path: Path) -> None:
    clock = FakeClock()
    src = ReplaySource([load_recording(write_recording(tmp_path))], clock=clock, audio_side="off")
    call = src.state.get("rec-1")
    assert call is not None and not call.finished and len(call.lines) == 0
    src.seek(3.1)
    call = src.state.get("rec-1")
    assert [line.text for line in call.lines] == ["Hello! How can I help?", "opening hours", "We are open from nine to six."]
    assert call.lines[-1].heard is None and call.barge_ins == 0
    assert src.now() == pytest.approx(1_800_000_003.1)  # the view draws at the recorded instant
    src.step(1)  # the barge-in
    call = src.state.get("rec-1")
    assert call.barge_ins == 1 and call.lines[-1].heard == "We are open"
    src.seek(1.0)  # back: applied again from the start
    call = src.state.get("rec-1")
    assert [line.text for line in call.lines] == ["Hello! How can I help?"] and call.barge_ins == 0
    src.seek(99)
    call = src.state.get("rec-1")
    assert call.finished and call.transferred_to == "+919000000001"


def test_other_recordings_show_whole_and_selecting_one_replays_it(tmp_path: Path) -> None:
    a = load_recording(write_recording(tmp_path, "same"))
    b = load_recording(write_recording(tmp_path, "same"))  # the same call id twice
    src = ReplaySource([a, b], clock=FakeClock(), audio_side="off")
    assert src.state.order == ["same", "same#2"]
    assert src.state.get("same#2").finished and not src.state.get("same").finished
    assert src.select("same#2")
    assert src.state.get("same").finished and not src.state.get("same#2").finished
    assert [c.call_id for c in src.state.rows(ViewFilter())] == ["same", "same#2"]  # recording order, always


def test_audio_goes_to_the_speaker_at_1x_only(tmp_path: Path) -> None:
    clock = FakeClock()
    players: list[FakePlayer] = []

    def factory(rate: int) -> FakePlayer:
        players.append(FakePlayer(rate))
        return players[-1]

    src = ReplaySource([load_recording(write_recording(tmp_path))], clock=clock, player_factory=factory)
    src.toggle()
    clock.t += 0.5
    src.tick()
    [player] = players
    assert player.sample_rate == RATE and sum(len(p) for p in player.written) == 2 * int(0.5 * RATE)
    src.faster()
    clock.t += 0.5
    src.tick()
    assert sum(len(p) for p in player.written) == 2 * int(0.5 * RATE) and "1x only" in src.audio_note
    src.slower()
    assert src.cycle_audio() == "caller" and src.cycle_audio() == "bot" and src.cycle_audio() == "off"
    src.seek(0)
    assert player.cleared >= 1


def test_no_sound_device_is_a_note_not_an_error(tmp_path: Path) -> None:
    def factory(rate: int) -> None:
        raise RuntimeError("no audio output (speaker) device available")

    clock = FakeClock()
    src = ReplaySource([load_recording(write_recording(tmp_path))], clock=clock, player_factory=factory)
    src.toggle()
    clock.t += 0.3
    src.tick()
    assert src.audio_note.startswith("no sound here: no audio output")
