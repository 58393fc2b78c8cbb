"""`kconsole replay` in the console: the Bot view's widgets on a replay source (Pilot).

The real-terminal check (tmux, a recording made by a test call) is in the terminal suite;
these drive the keys and read the widgets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from textual.widgets import Input

from console.form_models import JumpTo
from console.replay import build_replay_app
from console.screens.replay import ReplayScreen
from console.widgets.timeline import timeline_text
from tests.voice.replay.replay_fixtures import write_recording
from voice.replay import load_recording
from voice.replay.summary import levels_dbfs


def _text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_keys_move_through_the_call_and_the_view_follows(tmp_path: Path) -> None:
    recs = [load_recording(write_recording(tmp_path))]
    app = build_replay_app(recs, source=str(tmp_path), audio="off", autoplay=False)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause(0.2)
        assert isinstance(app.screen, ReplayScreen)
        assert "PAUSED" in _text(app, "#replay-transport") and "0:00.0 / 0:06.2" in _text(app, "#replay-transport")
        for _ in range(4):  # the greeting's sentence, its metrics, ..., the caller's final words
            await pilot.press("full_stop")
        await pilot.press("right_square_bracket")  # +5 s: past the barge-in
        await pilot.pause(0.3)
        body = _text(app, "#transcript-body")
        assert "opening hours" in body and "We are open" in body and "(cut off)" in body
        head = _text(app, "#bot-head")
        assert "+919876543210" in head
        turns = app.screen.query_one("#bot-turns")
        assert turns.row_count >= 2  # greeting + turn 1 timings
        await pilot.press("0")
        await pilot.pause(0.2)
        assert "opening hours" not in _text(app, "#transcript-body")
        await pilot.press("plus", "plus")
        assert app.replay.cursor.speed == 2.0
        await pilot.press("space")
        await pilot.pause(0.2)
        assert "PLAYING" in _text(app, "#replay-transport") and "2x" in _text(app, "#replay-transport")
        await pilot.press("space")
        await pilot.press("colon")
        await pilot.pause(0.1)
        app.screen.query_one(Input).value = "0:05"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.replay.cursor.position == pytest.approx(5.0) and not app.replay.cursor.playing
        await pilot.press("space")
        await pilot.pause(1.0)
        assert app.replay.cursor.at_end
        assert "outcome: transferred to +919000000001" in _text(app, "#replay-transport")
        assert "transferred to +919000000001" in _text(app, "#transcript-body")


async def test_missing_parts_are_shown_and_supervisor_keys_are_off(tmp_path: Path) -> None:
    folder = write_recording(tmp_path)
    (folder / "caller.wav").unlink()
    app = build_replay_app([load_recording(folder)], audio="off", autoplay=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert "no caller.wav" in _text(app, "#replay-missing")
        assert "(no audio recorded)" in _text(app, "#replay-timeline")
        assert app.screen.check_view_action("transfer", ()) is False
        assert app.check_action("view", ("live",)) is False
        await pilot.press("t", "5", "1")  # ignored: no transfer form, no other views
        await pilot.pause(0.1)
        assert isinstance(app.screen, ReplayScreen)


def test_timeline_marks_levels_cuts_and_position(tmp_path: Path) -> None:
    rec = load_recording(write_recording(tmp_path))
    text = timeline_text(levels_dbfs(rec.caller.pcm, rec.caller.rate), levels_dbfs(rec.bot.pcm, rec.bot.rate),
                         step_s=0.05, duration=rec.duration_s, position=3.1, cuts=[3.8], width=69).plain
    caller, bot, marks = text.split("\n")
    cols = 61  # 69 - label - 1
    assert len(marks) == 7 + cols
    assert marks.index("▲") - 7 == int(3.1 / rec.duration_s * cols)
    assert marks.index("✂") - 7 == int(3.8 / rec.duration_s * cols)
    col = lambda s: 7 + int(s / rec.duration_s * cols)  # noqa: E731
    assert bot[col(0.5)] != " " and caller[col(0.5)] == " "     # the greeting: the bot alone
    assert caller[col(2.2)] != " " and bot[col(2.2)] == " "     # the caller's line
    assert bot[col(4.5)] == " "                                  # after the cut: nothing was heard


@pytest.mark.parametrize(("text", "seconds"), [("75", 75.0), ("1:15", 75.0), ("1:15.5", 75.5), ("2.5s", 2.5), ("x", None)])
def test_jump_positions(text: str, seconds: float | None) -> None:
    if seconds is None:
        with pytest.raises(ValidationError, match="minutes:seconds"):
            JumpTo.model_validate({"at": text})
    else:
        assert JumpTo.model_validate({"at": text}).at == seconds
