"""A level meter for "listen": the mixed audio's loudness as a bar."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from console.look import look

FLOOR_DB = -60.0


def meter_text(level_dbfs: float, *, width: int = 24, label: str = "level") -> Text:
    """A bar from -60 dBFS (empty) to 0 dBFS (full): the theme's good, then warning, then bad colour."""
    if math.isinf(level_dbfs) or level_dbfs < FLOOR_DB:
        fraction = 0.0
    else:
        fraction = min(1.0, (level_dbfs - FLOOR_DB) / -FLOOR_DB)
    filled = round(fraction * width)
    text = Text(f"{label} ", style="bold")
    for i in range(width):
        if i < filled:
            pos = i / width
            text.append("█", look("good" if pos < 0.7 else "warn" if pos < 0.9 else "bad"))
        else:
            text.append("·", "dim")
    db = "-∞" if fraction == 0.0 else f"{level_dbfs:.0f}"
    text.append(f" {db} dBFS", "dim")
    return text


class LevelMeter(Static):
    DEFAULT_CSS = "LevelMeter { height: 1; }"

    def show(self, level_dbfs: float, label: str = "♪ listening") -> None:
        self.update(meter_text(level_dbfs, label=label))
