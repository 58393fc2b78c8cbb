"""The top bar: where you are, whose calls you see, and the state of every live feed.

One line, re-rendered from plain values by the app's refresh timer (never per event):
the numbered views with the current one highlighted, "me" or "everyone", the live
stream's state (live / connecting / retrying in N s / failed), the bot feed's state,
and a PAUSED badge while the live feed is paused.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from console.look import generation, look
from console.state import FeedStatus
from console.widgets.plain import safe_text

__all__ = ["BarInfo", "FeedStatus", "TopBar", "render_bar", "stream_badge"]


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
    """The bar for a terminal `width` columns wide. It gives way in steps until it fits:
    first the product name and the other views' titles (their keys stay), then IST and
    the words the badges' colours already say. The current view, whose calls, every
    feed's state and the clock always fit; the source is added only where there is room."""
    text = Text()
    for level in range(3):
        text = _bar(info, compact=level >= 1, tight=level >= 2)
        if text.cell_len <= width:
            break
    if info.source and text.cell_len + len(info.source) + 2 <= width:
        text.append(f"  {info.source}", "dim")
    return text


def _bar(info: BarInfo, *, compact: bool, tight: bool) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if not compact:
        text.append(" kconsole ", look("badge-brand"))
        text.append(" ")
    for key, title in info.views:
        if title == info.current:
            text.append(f" {key} {title} ", "bold reverse")
        elif tight:
            text.append(f" {key}", "dim")
        else:
            text.append(f" {key}{'' if compact else ' ' + title} ", "dim")
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
    return text


class TopBar(Static):
    """The one-line bar at the top of every view."""

    DEFAULT_CSS = """
    TopBar { height: 1; width: 100%; background: $panel; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._last: tuple[BarInfo, int, int] | None = None

    def show(self, info: BarInfo) -> None:
        width = self.size.width or 200
        key = (info, width, generation())
        if key != self._last:
            self._last = key
            self.update(safe_text(render_bar(info, width), keep_newlines=False))  # stream reasons are server text
