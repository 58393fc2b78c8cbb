"""Server-supplied text on screen: always a rich `Text`, never markup, controls visible.

Textual parses a plain `str` given to a DataTable cell, a Label, a Static or a
notification as markup. Names, call groups, dispositions and transcripts are typed by
people (or by a caller's speech recogniser), so `Sales [/EMEA]` would end the console with
a MarkupError, `[@click=app.quit]manager[/]` would make a cell that quits on a click and
`[wrong number]` would vanish. Escape codes (ESC, CR, NUL) would drive the terminal.
Every screen passes outside text through `plain()` (or `safe_cell()` for a table cell);
`VimTable` and the app's `notify` do it for every cell and every message on their own, so
a screen that forgets is still safe.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Span, Text

from kcommon.text import escape_controls, has_controls

__all__ = ["plain", "safe_cell", "safe_text"]


def plain(value: object, style: str | Style = "", **kwargs: Any) -> Text:
    """`value` as literal text in `style` (a style we chose, never one built from data)."""
    return Text(escape_controls("" if value is None else str(value)), style=style, **kwargs)


def safe_text(text: Text, *, keep_newlines: bool = True) -> Text:
    """A Text whose characters are shown as they are: control characters escaped, styles kept.

    Line breaks stay by default (a detail view or a transcript is built of lines)."""
    if not has_controls(text.plain.replace("\n", "") if keep_newlines else text.plain):
        return text
    cuts = sorted({o for span in text.spans for o in (span.start, span.end) if 0 < o < len(text.plain)})
    out = Text(style=text.style, justify=text.justify, overflow=text.overflow, no_wrap=text.no_wrap, end=text.end)
    for piece in text.divide(cuts):  # every span now covers its piece whole
        escaped = escape_controls(piece.plain, keep_newlines=keep_newlines)
        out.append_text(Text(escaped, spans=[Span(0, len(escaped), span.style) for span in piece.spans]))
    return out


def safe_cell(value: object) -> Text:
    """A table cell: a Text kept (controls escaped), anything else shown literally."""
    if isinstance(value, Text):
        return safe_text(value, keep_newlines=False)
    return plain(value)
