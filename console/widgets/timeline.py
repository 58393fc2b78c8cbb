"""A recorded call's timeline: both sides' levels, where the bot was cut, where we are.

Two rows of level bars (caller above, bot below) across the whole call, one column per
slice of time, so who spoke when (and any overlap) is visible at a glance; a third row
marks each barge-in's cut point (✂) and the replay position (▲). What has been played
is drawn in colour, the rest dim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.text import Text
from textual.widgets import Static

from console.look import look

BARS = " ▁▂▃▄▅▆▇█"
FLOOR_DB = -60.0
LABEL = 7  # "caller " / "   bot "


def _columns(levels: np.ndarray, step_s: float, duration: float, width: int) -> list[float]:
    """The loudest slice (dBFS) inside each of `width` equal stretches of the call."""
    if width <= 0:
        return []
    out: list[float] = []
    for col in range(width):
        a = int(col * duration / width / step_s)
        b = max(a + 1, int((col + 1) * duration / width / step_s))
        chunk = levels[a:b] if a < len(levels) else levels[0:0]
        out.append(float(np.max(chunk)) if len(chunk) else -math.inf)
    return out


def _bar(db: float) -> str:
    if math.isinf(db) or db <= FLOOR_DB:
        return BARS[0] if not math.isinf(db) else " "
    fraction = min(1.0, (db - FLOOR_DB) / -FLOOR_DB)
    return BARS[max(1, round(fraction * (len(BARS) - 1)))]


def clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m)}:{s:04.1f}"


def timeline_text(
    caller: np.ndarray | None,
    bot: np.ndarray | None,
    *,
    step_s: float,
    duration: float,
    position: float,
    cuts: Sequence[float] = (),
    width: int = 80,
) -> Text:
    cols = max(10, width - LABEL - 1)
    duration = max(duration, step_s)
    here = min(cols - 1, int(position / duration * cols))
    text = Text(no_wrap=True, overflow="crop")
    for label, levels, role in (("caller ", caller, "caller"), ("   bot ", bot, "bot")):
        style = look(role)
        text.append(label, look(f"bold {role}"))
        if levels is None:
            text.append("(no audio recorded)", "dim italic")
        else:
            for i, db in enumerate(_columns(levels, step_s, duration, cols)):
                text.append(_bar(db), style if i <= here else "dim")
        text.append("\n")
    marks = ["─"] * cols
    cut_cols = {min(cols - 1, int(c / duration * cols)) for c in cuts if 0 <= c <= duration}
    for c in cut_cols:
        marks[c] = "✂"
    text.append(" " * LABEL)
    for i, ch in enumerate(marks):
        if i == here:
            text.append("▲", look("bold strong"))
        elif ch == "✂":
            text.append(ch, look("bold bad"))
        else:
            text.append(ch, "dim" if i > here else look("info"))
    return text


class TimelineStrip(Static):
    DEFAULT_CSS = "TimelineStrip { height: 3; width: 100%; }"

    def show(self, caller: np.ndarray | None, bot: np.ndarray | None, *, step_s: float, duration: float,
             position: float, cuts: Sequence[float]) -> None:
        width = self.size.width or 80
        self.update(timeline_text(caller, bot, step_s=step_s, duration=duration, position=position, cuts=cuts,
                                  width=width))
