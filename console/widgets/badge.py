"""The top bar: where you are, whose calls you see, and the state of every live feed.

One line, re-rendered from plain values by the app's refresh timer (never per event):
the numbered views with the current one highlighted, "me" or "everyone", the live
stream's state (live / connecting / retrying in N s / failed), the bot feed's state,
and a PAUSED badge while the live feed is paused. A click on a view's tab goes to that
view (`TopBar.TabClicked`, handled by the app as if its number key had been pressed).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from console.look import generation, look
from console.state import FeedStatus
from console.widgets.plain import safe_text

__all__ = ["BarInfo", "FeedStatus", "Tab", "TopBar", "layout_bar", "render_bar", "stream_badge"]

Tab = tuple[int, int, str]
"""Where a view's tab is drawn: (first cell, cell after the last, the view's key)."""


@dataclass(frozen=True, slots=True)
class BarInfo:
    views: tuple[tuple[str, str], ...]   # (key, title) in order
    current: str                          # title of the current view
    who: str                              # "me +91..." or "everyone"
    stream: FeedStatus
    bot: FeedStatus | None
    paused: bool
    paused_new: int = 0                   # events that arrived while paused
    source: str = ""                      # "sandbox 127.0.0.1:PORT" / "Knowlarity"
    clock: str = ""                       # "14:02:07 UTC · IST 19:32": ticks every second


def stream_badge(status: FeedStatus, label: str = "stream", *, short: bool = False) -> Text:
    """A feed's state as a coloured badge; `short` (narrow terminals) keeps the symbol and
    the label and drops the words a colour already says ("live"), and the failure reason
    (the view itself explains it)."""
    s = status.status
    if s == "live":
        return Text.assemble((f" ● {label}{'' if short else ' live'} ", look("badge-live")))
    if s == "connecting":
        return Text.assemble((f" ◌ {label} {'…' if short else 'connecting'} ", look("badge-connecting")))
    if s == "retrying":
        wait = f" {status.retry_in:.{0 if status.retry_in >= 1 else 1}f} s" if status.retry_in is not None else ""
        return Text.assemble((f" ↻ {label}{wait if short else ' retrying' + (' in' + wait if wait else '')} ",
                              look("badge-retrying")))
    if s == "failed":
        reason = f": {status.reason}" if status.reason and not short else ""
        return Text.assemble((f" ✕ {label} failed{reason} "[:80], look("badge-failed")))
    return Text.assemble((f" – {label} off ", look("badge-off")))


def render_bar(info: BarInfo, width: int = 200) -> Text:
    """The bar for a terminal `width` columns wide (see `layout_bar`)."""
    return layout_bar(info, width)[0]


def layout_bar(info: BarInfo, width: int = 200) -> tuple[Text, tuple[Tab, ...]]:
    """The bar for a terminal `width` columns wide, and where each view's tab is in it.

    It gives way in steps until it fits: first the product name and the other views'
    titles (their keys stay), then IST and the words the badges' colours already say. The
    current view, whose calls, every feed's state and the clock always fit; the source is
    added only where there is room."""
    text = Text()
    tabs: tuple[Tab, ...] = ()
    for level in range(3):
        text, tabs = _bar(info, compact=level >= 1, tight=level >= 2)
        if text.cell_len <= width:
            break
    if info.source and text.cell_len + len(info.source) + 2 <= width:
        text.append(f"  {info.source}", "dim")
    return text, tabs


def _bar(info: BarInfo, *, compact: bool, tight: bool) -> tuple[Text, tuple[Tab, ...]]:
    text = Text(no_wrap=True, overflow="ellipsis")
    tabs: list[Tab] = []
    if not compact:
        text.append(" kconsole ", look("badge-brand"))
        text.append(" ")
    for key, title in info.views:
        start = text.cell_len
        if title == info.current:
            text.append(f" {key} {title} ", "bold reverse")
        elif tight:
            text.append(f" {key}", "dim")
        else:
            text.append(f" {key}{'' if compact else ' ' + title} ", "dim")
        tabs.append((start, text.cell_len, key))
    text.append(" ")
    text.append(f" {info.who} ", look("badge-who"))
    text.append(" ")
    text.append_text(stream_badge(info.stream, short=tight))
    if info.bot is not None:
        text.append(" ")
        text.append_text(stream_badge(info.bot, "bot", short=tight))
    if info.paused:
        more = f" +{info.paused_new}" if info.paused_new else ""
        text.append(" ")
        text.append(f" ❚❚ PAUSED{more} ", look("badge-paused"))
    if info.clock:
        clock = info.clock.split(" · ")[0] if tight else info.clock
        text.append(f"  {clock}", "")
    return text, tuple(tabs)


class TopBar(Static):
    """The one-line bar at the top of every view; its view tabs can be clicked."""

    DEFAULT_CSS = """
    TopBar { height: 1; width: 100%; background: $panel; }
    """

    class TabClicked(Message):
        """A view's tab was clicked: go to the view with this key."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._last: tuple[BarInfo, int, int] | None = None
        self.tabs: tuple[Tab, ...] = ()

    def show(self, info: BarInfo) -> None:
        width = self.size.width or 200
        key = (info, width, generation())
        if key != self._last:
            self._last = key
            text, self.tabs = layout_bar(info, width)
            self.update(safe_text(text, keep_newlines=False))  # stream reasons are server text

    def tab_at(self, x: int) -> str | None:
        """The key of the view whose tab is drawn at column `x`, if any."""
        return next((key for start, end, key in self.tabs if start <= x < end), None)

    def on_click(self, event: events.Click) -> None:
        key = self.tab_at(event.x)
        if key is not None:
            event.stop()
            self.post_message(self.TabClicked(key))
