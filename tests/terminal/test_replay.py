"""`kconsole replay` in a real terminal, on a recording made by a test call.

The bot (offline providers, recording on) is called by the Stream Node emulator: a
question, then an interruption that asks for a person (a barge-in, then a transfer).
The replay is then opened in tmux at each size and driven with the keys a developer
uses: it plays to the end with the transcript, the cut and the outcome on screen,
restarts, steps, jumps to a time, and quits.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.terminal.conftest import REPO, SIZES, console_env
from tests.terminal.tmux import TMUX, TmuxTerminal

PROVIDER_KEYS = ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY", "OPENAI_BASE_URL", "BOT_SCRIPT")


async def _record(root: Path) -> None:
    from voice.caller import Turn, place_call
    from voice.config import BotSettings
    from voice.server import BotServer

    settings = BotSettings(_env_file=None, bot_host="127.0.0.1", bot_port=0, record_dir=root,  # type: ignore[call-arg]
                           greeting="Hello, Acme here.", transfer_number="+919000000001")
    async with BotServer(settings) as bot:
        report = await place_call(bot.url, [Turn(say="what are your opening hours"),
                                            Turn(say="I want to speak to a person", interrupt_after_ms=700)])
        assert report.outcome == "transferred", report.describe_outcome()
        for _ in range(300):
            if not bot.sessions:
                break
            await asyncio.sleep(0.01)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if TMUX is None:
        pytest.skip("tmux is not installed (CI installs it: apt-get install tmux)")
    mp = pytest.MonkeyPatch()
    for key in PROVIDER_KEYS:
        mp.delenv(key, raising=False)
    root = tmp_path_factory.mktemp("recordings")
    try:
        asyncio.run(_record(root))
    finally:
        mp.undo()
    return root


@pytest.fixture(params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def replay(request: pytest.FixtureRequest, recording: Path, tmp_path: Path) -> Iterator[TmuxTerminal]:
    width, height = request.param
    term = TmuxTerminal(tmp_path, width=width, height=height)
    config = tmp_path / "config"
    config.mkdir()
    term.start([sys.executable, "-m", "console", "replay", str(recording), "--speed", "10", "--audio", "off"],
               env=console_env(config), cwd=REPO)
    try:
        yield term
    finally:
        term.close()


def test_a_recorded_call_replays_in_a_real_terminal(replay: TmuxTerminal) -> None:
    screen = replay.wait_for("REPLAY", 30, why="the replay view")
    assert "Recorded calls: 1" in screen
    screen = replay.wait_for("■ END", 20, why="the replay to play through at 10x")
    assert "outcome: transferred to +919000000001" in screen
    if replay.height >= 35:  # at 80x24 the transcript has scrolled to its last lines
        assert "opening hours" in screen.lower() or "open monday" in screen.lower()  # the transcript
        assert "(cut off)" in screen               # the answer the caller interrupted
    assert "transferred to +919000000001" in screen
    lines = screen.splitlines()
    assert any(line.startswith("caller ") for line in lines) and any(line.startswith("   bot ") for line in lines)
    assert "✂" in screen and "▲" in screen         # the cut point and the position on the timeline

    replay.keys("0")                               # back to the start (it stopped at the end: paused)
    screen = replay.wait_for(" 0:00.0 / ", 5, why="the restart")
    assert "PAUSED" in screen and "opening hours" not in screen.lower()
    replay.keys(".")                               # one event on
    replay.wait_for(lambda s: " 0:00.0 / " not in s and "PAUSED" in s, 5, why="a step")
    replay.keys(":")
    replay.wait_for("Jump to", 5)
    replay.type("0:02")
    replay.keys("Enter")
    replay.wait_for(" 0:02.0 / ", 5, why="the jump to 0:02")
    replay.keys("space")
    replay.wait_for("■ END", 10, why="playing on to the end")
    replay.keys("q")
    replay.wait_for(lambda s: not replay.alive(), 10, why="the replay to quit")
