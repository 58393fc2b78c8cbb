"""A bot call's conversation as it happens.

The caller's words grow as the recogniser's partial results come in (shown dimmer and
in italics until final). A bot sentence is revealed word by word at speaking pace while
the bot is speaking it, so the screen follows what the caller hears; once playback has
passed it the whole sentence shows, and a sentence cut short by a barge-in shows the
heard part normally and the unheard rest struck through.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.look import look
from console.state import BotCall, Line
from console.widgets.plain import safe_text

WORDS_PER_SECOND = 3.0  # a little faster than eSpeak's default 175 words/min


def _bot_words(line: Line, now: float, speaking_last: bool) -> tuple[str, str]:
    """(shown, struck): the part to show normally and the unheard rest."""
    if line.heard is not None:
        heard = line.heard.strip()
        if heard and line.text.startswith(heard):
            return heard, line.text[len(heard):].strip()
        if not heard:
            return "", line.text
        return line.text, ""
    if speaking_last:
        words = line.text.split()
        count = max(1, int((now - line.ts) * WORDS_PER_SECOND) + 1)
        if count < len(words):
            return " ".join(words[:count]), ""
    return line.text, ""


def transcript_text(call: BotCall, now: float) -> Text:
    text = Text()
    last_bot = None
    for i in range(len(call.lines) - 1, -1, -1):
        if call.lines[i].speaker == "bot":
            last_bot = call.lines[i]
            break
    for line in call.lines:
        if line.speaker == "caller":
            text.append("caller ", look("bold caller"))
            text.append(line.text + "\n")
        elif line.speaker == "bot":
            shown, struck = _bot_words(line, now, line is last_bot and call.state == "speaking")
            text.append("   bot ", look("bold bot"))
            text.append(shown)
            if struck:
                text.append(" " + struck, "strike dim")
                text.append("  (cut off)", look("italic bad"))
            text.append("\n")
        else:
            text.append("     · ", "dim")
            text.append(line.text + "\n", "italic dim")
    if call.partial:
        text.append("caller ", look("bold dim caller"))
        text.append(call.partial + " …\n", "italic dim")
    if not call.lines and not call.partial:
        text.append("(nothing said yet)", "dim italic")
    return text


class TranscriptView(VerticalScroll):
    """Scrolls with the conversation unless the user scrolled up to read."""

    DEFAULT_CSS = """
    TranscriptView { height: 1fr; }
    TranscriptView > Static { width: 100%; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="transcript-body")

    def show(self, call: BotCall | None, now: float) -> None:
        body = self.query_one("#transcript-body", Static)
        at_end = self.scroll_y >= self.max_scroll_y - 1
        body.update(safe_text(transcript_text(call, now)) if call is not None else Text("no bot call selected", "dim italic"))
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)
