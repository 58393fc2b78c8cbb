"""Make control characters in outside text visible instead of acted on.

A call id, a number or a server-supplied field may hold CR/LF (which forge a new log line),
ESC (which drives the terminal reading the log), NUL, C1 controls, Unicode line separators
and bidi overrides (which make a line read differently from what it holds). `escape_controls`
writes each as a visible escape (`\\n`, `\\x1b`, `\\u2028`) and leaves everything else,
including ordinary non-ASCII text, exactly as it was.
"""

from __future__ import annotations

__all__ = ["escape_controls", "has_controls"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0"}
_CODEPOINTS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0x200E, 0x200F,
               *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF]


def _escape(cp: int) -> str:
    ch = chr(cp)
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{cp:02x}" if cp <= 0xFF else f"\\u{cp:04x}"


_TABLE = {cp: _escape(cp) for cp in _CODEPOINTS}
_KEEP_NEWLINES = {cp: esc for cp, esc in _TABLE.items() if cp != 0x0A}


def escape_controls(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every control character written as a visible escape.

    `keep_newlines` leaves LF alone (for a traceback, whose lines are its structure)."""
    return text.translate(_KEEP_NEWLINES if keep_newlines else _TABLE)


def has_controls(text: str) -> bool:
    return any(ord(ch) in _TABLE for ch in text)
