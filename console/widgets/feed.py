"""The raw event feed: the stream's items as they came, newest at the bottom.

Written in batches from `CallsBoard.feed_since()` by the refresh timer; a RichLog keeps
only `max_lines`, so the widget stays small however long the console runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import RichLog

from console.display import time_format
from console.look import look
from console.state import FeedLine
from console.widgets.plain import safe_text

# A live event's kind -> its console.look role (the Live board colours its state the same way).
EVENT_ROLES = {
    "ORIGINATE": "info",
    "AGENT_CALL": "warn",
    "AGENT_ANSWER": "good",
    "CUSTOMER_CALL": "warn",
    "CUSTOMER_ANSWER": "good",
    "BRIDGE": "bold good",
    "HANGUP": "bad",
    "CDR": "accent",
}

MAX_LINES_PER_BATCH = 120


def feed_text(line: FeedLine) -> Text:
    stamp = time_format().when(line.ts, seconds=True, date=False)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(stamp + " ", "dim")
    text.append(f"{line.kind:<15.15}", look(EVENT_ROLES.get(line.kind, "italic dim strong")))
    text.append(" " + line.summary)
    if line.uuid:
        text.append(f" {line.uuid[:8]}", "dim")
    return text


class FeedLog(RichLog):
    """Bounded raw feed; `last_seq` says how far it has been written."""

    def __init__(self, *, max_lines: int = 400, **kwargs: object) -> None:
        super().__init__(max_lines=max_lines, min_width=20, wrap=False, markup=False, auto_scroll=True, **kwargs)  # type: ignore[arg-type]
        self.last_seq = 0

    def restart(self) -> None:
        """Empty it, so the next batch rewrites every line still held (in the theme's colours now)."""
        self.clear()
        self.last_seq = 0

    def append_lines(self, lines: Sequence[FeedLine]) -> None:
        if not lines:
            return
        skipped = len(lines) - MAX_LINES_PER_BATCH
        if skipped > 0:
            self.write(Text(f"… {skipped} events in this burst not shown", style="dim italic"))
            lines = lines[skipped:]
        for line in lines:
            self.write(safe_text(feed_text(line), keep_newlines=False))
        self.last_seq = lines[-1].seq
