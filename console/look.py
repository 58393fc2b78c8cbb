"""The console's colours by meaning, taken from the active Textual theme.

The stylesheet colours widgets with theme variables ($primary, $success, ...), and Textual
recolours them when the user picks another theme (ctrl+p -> Theme). Rich `Text` built in
Python (table cells, badges, transcripts) cannot name a variable, so code asks for a *role*
here instead of writing a colour: `look("bold good")`, `look("badge-live")`. ROLES is the
one table that says which theme colour each role is; it names only theme variables, never a
colour, so the theme is the palette. The app calls `use_theme()` with the theme's variables
at start and on every theme change; `generation()` then moves on, and views that cache what
they drew include it in their cache key, so every view is redrawn in the new colours.

A spec is words: role names and the style words Rich knows (bold, dim, italic, underline,
reverse, ...). Unknown words are dropped (logged once), so a typo costs a colour, never a
screen. Before any app has started (a test building one row), the textual-dark theme is used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from rich.style import Style
from textual.color import Color
from textual.theme import BUILTIN_THEMES

log = logging.getLogger("console.look")

# role -> a style in theme variables. Text roles use the theme's text-* colours, made to be
# read on its background; badges are a colour with readable text (`$text` is automatic).
ROLES: Mapping[str, str] = {
    # meanings
    "good": "$text-success",
    "warn": "$text-warning",
    "bad": "$text-error",
    "info": "$text-primary",
    "accent": "$text-accent",
    "other": "$text-secondary",
    "strong": "$foreground",
    # who: the two sides of a call
    "caller": "$text-primary",
    "bot": "$text-accent",
    "inbound": "$text-primary",
    "outbound": "$text-secondary",
    # headings and labels
    "heading": "$text-primary",
    "label": "$text-primary",
    "key": "$text-accent",
    # badges
    "badge-brand": "bold $text on $primary",
    "badge-who": "bold $text on $secondary",
    "badge-live": "bold $text on $success",
    "badge-connecting": "bold $text on $primary",
    "badge-retrying": "bold $text on $warning",
    "badge-failed": "bold $text on $error",
    "badge-off": "$text on $panel-lighten-2",
    "badge-paused": "bold $text on $accent",
    "badge-alert": "bold $text on $error",
    "badge-ringing": "bold $text on $warning",
    "badge-listening": "bold $text on $secondary",
    "badge-thinking": "bold $text on $warning",
    "badge-speaking": "bold $text on $success",
    "badge-transferring": "bold $text on $accent",
    "badge-ended": "$text on $panel-lighten-2",
}

_MODIFIERS = frozenset({"bold", "dim", "italic", "underline", "underline2", "reverse", "strike", "blink", "overline",
                        "not"})
_FALLBACK_THEME = "textual-dark"


def theme_variables(theme_name: str = _FALLBACK_THEME) -> dict[str, str]:
    """The CSS variables of a built-in theme, as an app would give them (no app needed)."""
    theme = BUILTIN_THEMES.get(theme_name) or BUILTIN_THEMES[_FALLBACK_THEME]
    return {**theme.to_color_system().generate(), **theme.variables}


class Look:
    """Roles resolved against one theme's variables; specs are cached."""

    def __init__(self, variables: Mapping[str, str], generation: int = 0) -> None:
        self.variables = dict(variables)
        self.generation = generation
        self._background = self._colour("background") or Color(0, 0, 0)
        self._cache: dict[str, Style] = {}
        self._warned: set[str] = set()

    def __call__(self, spec: str) -> Style:
        style = self._cache.get(spec)
        if style is None:
            style = self._cache[spec] = self._resolve(spec)
        return style

    def _colour(self, name: str, on: Color | None = None) -> Color | None:
        """A theme variable as a solid colour: automatic text is made readable on `on`, and
        a translucent colour is laid over it (or over the theme's background)."""
        value = self.variables.get(name, "").strip()
        if not value:
            return None
        under = on or getattr(self, "_background", None) or Color(0, 0, 0)
        try:
            if value.startswith("auto"):
                percent = value.removeprefix("auto").strip().rstrip("%")
                alpha = float(percent) / 100 if percent else 1.0
                return under + under.get_contrast_text(alpha)
            colour = Color.parse(value)
        except Exception:  # noqa: BLE001 - a theme's odd value costs that colour, not the screen
            return None
        return under + colour if colour.a < 1 else colour

    def _resolve(self, spec: str) -> Style:
        words: list[str] = []
        fg: str | None = None
        bg: str | None = None
        for word in spec.split():
            role = ROLES.get(word)
            if role is None:
                if word in _MODIFIERS:
                    words.append(word)
                elif word not in self._warned:
                    self._warned.add(word)
                    log.warning("unknown style word %r in %r", word, spec)
                continue
            parts = role.split()
            if "on" in parts:
                at = parts.index("on")
                bg = parts[at + 1].removeprefix("$")
                parts = parts[:at] + parts[at + 2:]
            for part in parts:
                if part.startswith("$"):
                    fg = part.removeprefix("$")
                else:
                    words.append(part)
        background = self._colour(bg) if bg else None
        foreground = self._colour(fg, on=background) if fg else None
        style = Style.parse(" ".join(words)) if words else Style()
        return style + Style(color=foreground.rich_color if foreground else None,
                             bgcolor=background.rich_color if background else None)


_current = Look(theme_variables())


def look(spec: str) -> Style:
    """The Rich style for `spec` ("bold good", "badge-live") in the current theme."""
    return _current(spec)


def use_theme(variables: Mapping[str, str]) -> None:
    """Resolve roles against these theme variables from now on (the app calls this)."""
    global _current
    if dict(variables) != _current.variables:
        _current = Look(variables, _current.generation + 1)


def generation() -> int:
    """Moves on at every theme change: part of a view's cache key, so it redraws."""
    return _current.generation
