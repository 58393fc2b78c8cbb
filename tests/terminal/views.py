"""What each view shows when it is on screen, as a person would recognise it."""

from __future__ import annotations

import re
import time

from tests.terminal.tmux import TmuxTerminal

# view key -> (name, a line only that view shows)
VIEWS: dict[str, tuple[str, re.Pattern[str]]] = {
    "1": ("Live", re.compile(r"Calls in progress: \d+")),
    "2": ("Agents", re.compile(r"Agents: \d+ shown")),
    "3": ("Tasks", re.compile(r"Tasks: \d+ shown")),
    "4": ("Call log", re.compile(r"calls loaded|no calls match|searching")),
    "5": ("Bot", re.compile(r"Bot calls: \d+ live")),
    "6": ("Campaigns", re.compile(r"Campaigns and orders: \d+")),
    "7": ("Account", re.compile(r"n register number")),
    "8": ("Numbers", re.compile(r"outgoing caller id|Available numbers")),
    "9": ("Library", re.compile(r"Phonebooks: \d+")),
}
CLOCK = re.compile(r"\b(\d\d:\d\d:\d\d) UTC\b")


def top_bar(term: TmuxTerminal) -> str:
    return term.lines()[0] if term.lines() else ""


def clock(screen: str) -> str | None:
    first = screen.splitlines()[0] if screen else ""
    m = CLOCK.search(first)
    return m.group(1) if m else None


def go(term: TmuxTerminal, key: str, timeout: float = 15.0) -> str:
    """Press a view key and wait until that view (and no other) is what the terminal shows."""
    name, marker = VIEWS[key]
    others = [m for k, (_, m) in VIEWS.items() if k != key]
    term.keys(key, pause=0.05)
    return term.wait_for(lambda s: bool(marker.search(s)) and not any(o.search(s) for o in others),
                         timeout, why=f"the {name} view")


def assert_live(term: TmuxTerminal, timeout: float = 3.0) -> None:
    """The screen keeps painting: the top bar's clock moves on within a couple of seconds."""
    first = clock(term.screen())
    assert first is not None, f"no clock in the top bar:\n{term.screen()}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if clock(term.screen()) != first:
            return
    raise AssertionError(f"the screen stopped painting (clock stuck at {first}):\n{term.screen()}")


_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_BACKGROUND = re.compile(r"(?:^|;)(48;(?:2;\d+;\d+;\d+|5;\d+)|4\d)(?=;|$)")


def _leading_style(styled: str) -> tuple[str | None, bool]:
    """The background colour and boldness a line starts with (before its first visible character)."""
    background, bold = None, False
    at = 0
    for match in _SGR.finditer(styled):
        if match.start() != at:
            break
        params = match.group(1)
        if params in ("", "0"):
            background, bold = None, False
        found = _BACKGROUND.findall(params)
        if found:
            background = found[-1]
        if re.search(r"(?:^|;)1(?:;|$)", params):
            bold = True
        at = match.end()
    return background, bold


def cursor_row(term: TmuxTerminal, header: re.Pattern[str]) -> str | None:
    """The text of the table row under the cursor: the table starts below the line that
    matches `header`, and the cursor's row is the one drawn bold on a background no other
    row of that table has (the others alternate two zebra colours)."""
    styled = term.styled_lines()
    plain = [_SGR.sub("", line) for line in styled]
    top = next((i for i, line in enumerate(plain) if header.search(line)), None)
    if top is None:
        return None
    width = plain[top].find("│") if "│" in plain[top] else len(plain[top])  # a pane beside the table
    rows: list[tuple[str, str | None, bool]] = []
    # (not the screen's last line: the key bar, bold on a background of its own, which a table
    # that fills the screen to it has no blank line to keep apart)
    for i in range(top + 1, len(plain) - 1):
        text = plain[i][:width]
        if not text.strip() or "─" in text or "╭" in text:
            break
        rows.append((text, *_leading_style(styled[i])))
    counts: dict[str | None, int] = {}
    for _, background, _ in rows:
        counts[background] = counts.get(background, 0) + 1
    found = [text for text, background, bold in rows if bold and background is not None and counts[background] == 1]
    return found[0] if len(found) == 1 else None


def showing(screen: str, key: str) -> bool:
    """The screen shows view `key` and no other."""
    marker = VIEWS[key][1]
    return bool(marker.search(screen)) and not any(m.search(screen) for k, (_, m) in VIEWS.items() if k != key)
