"""`kconsole replay --report / --json` and the loader under it: complete, cut and old recordings."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from console.cli import main
from tests.voice.replay.replay_fixtures import RATE, write_recording
from voice.replay import find_recordings, load_recording, summarize
from voice.replay.load import TRUNCATED_REASON


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_complete_recording_summarised(tmp_path: Path) -> None:
    folder = write_recording(tmp_path)
    s = summarize(load_recording(folder))
    assert s.call_id == "rec-1" and s.caller == "+919876543210" and s.sample_rate == RATE
    assert s.outcome == "transferred to +919000000001" and not s.truncated and s.missing == []
    assert s.greeting_ms == 120.0 and s.answered_turns == 2
    assert abs(s.duration_s - 6.2) < 0.05
    greet, first, second = s.turns
    assert greet.turn == 0 and greet.bot == "Hello! How can I help?"
    assert first.caller == "opening hours" and first.bot == "We are open from nine to six."
    assert first.heard == "We are open" and first.cut and first.cut_at_s == pytest.approx(3.8, abs=0.01)
    assert first.barge_in_ms == 140.0 and first.total_ms == 480.0 and first.interrupted
    assert second.caller == "a person please" and second.heard is None and second.total_ms == 400.0
    assert [round(c.at_s, 2) for c in s.cuts] == [3.8]
    # the bot track holds what the caller heard: the greeting, 0.8 s of the reply, the last line
    assert s.bot_audio_s == pytest.approx(1.4 + 0.8 + 1.0, abs=0.15)
    assert s.caller_speech_s == pytest.approx(1.7, abs=0.15)


def test_report_prints_a_summary_and_a_turn_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_recording(tmp_path, "rec-1")
    write_recording(tmp_path, "rec-2")
    code, out, err = run(capsys, str(tmp_path), "--report")
    assert code == 0 and err == ""
    assert out.count("call rec-") == 2 and "2 calls" in out
    assert "outcome: transferred to +919000000001" in out
    assert "greeting: first audio 120 ms after the metadata" in out
    assert "1 barge-in (killAudio 140 ms at 0:03.8)" in out
    header = next(line for line in out.splitlines() if "caller said" in line)
    assert all(col in header for col in ("turn", "bot said", "STT", "LLM", "TTS", "total", "barge"))
    row = next(line for line in out.splitlines() if "opening hours" in line)
    assert "We are open ✂ [unheard: from nine to six.]" in row
    assert row.split()[-7:] == ["300", "90", "110", "60", "180", "480", "140"]


def test_json_has_every_call_and_turn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_recording(tmp_path)
    code, out, _ = run(capsys, str(folder), "--json")
    assert code == 0
    [call] = json.loads(out)["calls"]
    assert call["outcome"] == "transferred to +919000000001" and call["answered_turns"] == 2
    assert [t["turn"] for t in call["turns"]] == [0, 1, 2]
    assert call["turns"][1]["cut"] is True and call["turns"][1]["heard"] == "We are open"
    assert call["missing"] == [] and call["truncated"] is False


def test_a_cut_events_file_replays_what_it_holds(tmp_path: Path) -> None:
    folder = write_recording(tmp_path)
    path = folder / "events.jsonl"
    lines = path.read_text().splitlines()
    keep = [line for line in lines if '"call_ended"' not in line and '"transferred"' not in line]
    path.write_text("\n".join(keep[:-1]) + "\n" + keep[-1][:25])  # the last line is cut mid-way
    rec = load_recording(folder)
    assert rec.truncated
    s = summarize(rec)
    assert s.outcome == "unknown (recording cut)" and s.end_reason == TRUNCATED_REASON
    assert any("ends mid-line" in m for m in s.missing)
    assert any("no call_ended event" in m for m in s.missing)
    assert s.turns[1].heard == "We are open"  # everything before the cut is still there
    assert rec.events[-1].kind == "call_ended"  # synthetic, at the recording's end
    assert rec.events[-1].ts - rec.start_ts == pytest.approx(rec.duration_s)


def test_an_older_recording_without_events_is_audio_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_recording(tmp_path, drop_events=True)
    (folder / "events.jsonl").unlink()
    code, out, _ = run(capsys, str(folder), "--report")
    assert code == 0
    assert "missing: no events.jsonl (an older recording?)" in out
    assert "(no turns recorded)" in out and "speech: caller 1.7 s" in out


def test_unknown_kinds_and_bad_lines_are_skipped_and_said(tmp_path: Path) -> None:
    folder = write_recording(tmp_path)
    path = folder / "events.jsonl"
    lines = path.read_text().splitlines()
    lines.insert(3, '{"call_id": "rec-1", "ts": 1800000000.5, "kind": "vad_probe", "p": 0.9}')
    lines.insert(4, "not json at all")
    path.write_text("\n".join(lines) + "\n")
    s = summarize(load_recording(folder))
    assert any("vad_probe" in m for m in s.missing) and any("1 unreadable line skipped" in m for m in s.missing)
    assert s.answered_turns == 2


def test_a_wav_whose_header_was_never_finalised(tmp_path: Path) -> None:
    folder = write_recording(tmp_path)
    wav = folder / "caller.wav"
    raw = bytearray(wav.read_bytes())
    data_at = raw.index(b"data")
    struct.pack_into("<I", raw, data_at + 4, 0)  # what a writer killed before closing leaves
    wav.write_bytes(bytes(raw))
    rec = load_recording(folder)
    assert rec.caller is not None and rec.caller.seconds == pytest.approx(4.6, abs=0.05)
    assert any("header was not finalised" in m for m in rec.missing)


def test_a_bad_or_missing_wav_is_said(tmp_path: Path) -> None:
    folder = write_recording(tmp_path)
    (folder / "bot.wav").write_bytes(b"")
    (folder / "caller.wav").unlink()
    rec = load_recording(folder)
    assert rec.bot is None and rec.caller is None
    assert any("bot.wav is empty" in m for m in rec.missing) and any("no caller.wav" in m for m in rec.missing)
    assert summarize(rec).answered_turns == 2


def test_bad_directories_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope"), "--report")
    assert code == 2 and err.strip() == f"kconsole: replay: no such directory: {tmp_path / 'nope'}"
    code, _, err = run(capsys, str(tmp_path), "--report")
    assert code == 2 and "no recordings in" in err and err.count("\n") == 1


def test_a_parent_folder_lists_its_recordings_oldest_first(tmp_path: Path) -> None:
    a = write_recording(tmp_path, "a")
    b = write_recording(tmp_path, "b")
    (tmp_path / "notes").mkdir()
    assert find_recordings(tmp_path) == sorted([a, b])
    assert find_recordings(a) == [a]
