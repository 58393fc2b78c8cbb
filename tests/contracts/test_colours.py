"""The console's colours come from the theme: no colour literal in its Python or stylesheet.

Every colour the console shows is a Textual theme variable ($primary, $success, $warning,
$error, $accent, ...): the stylesheet uses them directly, and Python code that styles a Rich
`Text` asks `console.look` for a role ("good", "bad", "badge-live", ...), which is resolved
from the active theme and again whenever the theme changes. A hex code or a colour name in
a Python string would not follow a theme change (ctrl+p -> Theme), so this test reads every
string literal in console/ (with the tokenizer: comments and docstrings count as strings, so
prose that names a colour must say it in words a style parser would not take, or be listed)
and the stylesheet, and fails on one that is not in ALLOWED with its reason.

Each check is shown to fail on a planted literal.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "console"

# (path relative to the repo, the literal) -> why it must stay. Keep this short.
ALLOWED: dict[tuple[str, str], str] = {}

# Rich's / Textual's colour names that a style string could carry.
_NAMES = (
    "black|red|green|yellow|blue|magenta|cyan|white|grey\\d*|gray\\d*|orange\\d*|purple\\d*|pink\\d*|gold\\d*|"
    "violet|navy_blue|dark_\\w+|light_\\w+|medium_\\w+|bright_\\w+|deep_\\w+|ansi_\\w+|color\\(\\d+\\)"
)
_STYLE_WORDS = {"bold", "dim", "italic", "underline", "underline2", "reverse", "strike", "blink", "not", "on",
                "overline", "conceal", "frame", "encircle", "b", "i", "u", "s", "r", "d"}
HEX = re.compile(r"#(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3})(?![0-9a-zA-Z_-])")
FUNCTION = re.compile(r"\b(?:rgb|rgba|hsl|hsla)\s*\(", re.IGNORECASE)
NAME = re.compile(rf"^(?:{_NAMES})$")  # style strings in code are lower case; "Gold" is a plan
# A CSS declaration that names a colour: `color: red`, `background: white 20%`, `border: round green`.
CSS_NAMED = re.compile(rf"\b(?:color|background|border[\w-]*|outline[\w-]*|tint|scrollbar[\w-]*)\s*:[^;{{}}]*\b(?:{_NAMES})\b",
                       re.IGNORECASE)


def _style_string_colours(value: str) -> list[str]:
    """Colour names in a string that reads as a Rich style ("bold green", "white on red")."""
    words = value.split()
    if not words or len(words) > 8:
        return []
    if not all(w.lower() in _STYLE_WORDS or NAME.match(w) or HEX.fullmatch(w) for w in words):
        return []
    return [w for w in words if NAME.match(w)]


def colour_literals(source: str) -> list[tuple[int, str]]:
    """(line, literal) for every colour literal in the string tokens of Python `source`."""
    found: list[tuple[int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.STRING and getattr(tokenize, "FSTRING_MIDDLE", -1) != token.type:
            continue
        text = token.string
        line = token.start[0]
        found += [(line, m.group(0)) for m in HEX.finditer(text)]
        found += [(line, m.group(0)) for m in FUNCTION.finditer(text)]
        found += [(line, m.group(0)) for m in CSS_NAMED.finditer(text)]
        try:
            value = eval(text, {}, {}) if not text.lower().startswith(("f", "rf", "fr")) else ""  # noqa: S307 - a literal token
        except (SyntaxError, ValueError):
            value = ""
        if isinstance(value, str):
            found += [(line, name) for name in _style_string_colours(value)]
    return found


def stylesheet_literals(css: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for number, line in enumerate(css.splitlines(), 1):
        code = line.split("/*")[0] if "*/" not in line else re.sub(r"/\*.*?\*/", "", line)
        if ":" not in code:
            continue  # selectors (`#feed-pane {`) are ids, not colours
        found += [(number, m.group(0)) for m in HEX.finditer(code)]
        found += [(number, m.group(0)) for m in FUNCTION.finditer(code)]
        found += [(number, m.group(0)) for m in CSS_NAMED.finditer(code)]
    return found


def offenders(root: Path = ROOT) -> list[str]:
    out: list[str] = []
    for path in sorted((root / "console").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for line, literal in colour_literals(path.read_text(encoding="utf-8")):
            if (rel, literal) not in ALLOWED:
                out.append(f"{rel}:{line}: {literal}")
    for path in sorted((root / "console").rglob("*.tcss")):
        rel = path.relative_to(root).as_posix()
        for line, literal in stylesheet_literals(path.read_text(encoding="utf-8")):
            if (rel, literal) not in ALLOWED:
                out.append(f"{rel}:{line}: {literal}")
    return out


def test_the_console_has_no_colour_literals() -> None:
    found = offenders()
    assert not found, "colour literals (use a theme variable or a console.look role):\n" + "\n".join(found)


def test_every_allowed_literal_has_a_reason_and_is_still_there() -> None:
    for (rel, literal), reason in ALLOWED.items():
        assert len(reason) > 20, f"{rel} {literal}: say why it must stay"
        assert literal in (ROOT / rel).read_text(encoding="utf-8"), f"{rel} no longer holds {literal}: drop it from ALLOWED"


@pytest.mark.parametrize("planted", [
    'text.append("x", "bold #5fd75f")',
    'Text("x", style="dim cyan")',
    'STYLE = "white on red"',
    'DEFAULT_CSS = "Bar { background: rgb(10, 20, 30); }"',
    'DEFAULT_CSS = """\nBar { color: yellow; }\n"""',
    "text.append(f'{label}', 'bold #abc')",
])
def test_a_planted_literal_is_found(planted: str) -> None:
    assert colour_literals(planted + "\n"), planted


@pytest.mark.parametrize("clean", [
    'self.query_one("#feed", FeedLog)',
    'text.append("x", look("bold good"))',
    'Text("the call is on hold")',
    'DEFAULT_CSS = "Bar { background: $panel; color: $text-muted; }"',
    'log.info("green light: %s", x)',
])
def test_clean_code_is_not_flagged(clean: str) -> None:
    assert not colour_literals(clean + "\n"), clean


def test_the_stylesheet_check_finds_a_planted_literal() -> None:
    assert stylesheet_literals("PopPanel {\n    border: round #ffd75f;\n}\n")
    assert stylesheet_literals("X {\n    color: white;\n}\n")
    assert not stylesheet_literals("#feed-pane {\n    border-left: solid $panel-lighten-2;\n}\n")
