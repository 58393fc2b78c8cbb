"""Cut a streamed LLM reply into sentences, so speech can start before the reply ends.

The guide's splitter (`endswith(('.', '!', '?')) and len > 8`) speaks "Dr." as a
sentence, breaks "3.5" when a token ends at the dot, and never speaks a reply with no
final punctuation. This one:

- ends a sentence at `.`, `!`, `?` (and `…`), possibly followed by closing quotes or
  brackets, only once the *next* character is known to be whitespace: a token that
  ends at "3." waits for the next token to tell a decimal from a full stop;
- never ends one after a known abbreviation ("Dr.", "e.g.", "a.m." before a lower-case
  word) or a single initial ("J. Smith");
- treats a line break as a boundary (lists);
- merges pieces shorter than `min_chars` into the next sentence ("Sure. We open at 9.");
- splits a run-on longer than `max_chars` at the last comma/semicolon/colon, so text
  keeps flowing to the TTS;
- flushes whatever is left when the stream ends (`flush()`).
"""

from __future__ import annotations

ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "etc", "inc", "ltd", "co",
        "corp", "dept", "approx", "appt", "apt", "ave", "blvd", "rd", "no", "nos", "fig", "e.g",
        "i.e", "a.m", "p.m", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
        "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "min", "max",
        "hr", "hrs", "ext", "tel", "rs",
    }
)
# Abbreviations that often end a sentence too ("We open at 9 a.m. See you!"): a boundary
# when the next word starts with a capital letter.
_SOFT_ABBREVIATIONS = frozenset({"etc", "a.m", "p.m", "inc", "ltd", "co", "no"})
_TERMINATORS = ".!?…"
_CLOSERS = "\"')]}”’»"
_SOFT_BREAKS = ",;:"


class SentenceSplitter:
    """Streaming splitter: `push(delta) -> [sentences]`, then `flush() -> [rest]`."""

    def __init__(self, *, min_chars: int = 8, max_chars: int = 220) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._buf = ""
        self._scan_from = 0

    def push(self, delta: str) -> list[str]:
        if not delta:
            return []
        self._buf += delta
        out: list[str] = []
        while True:
            cut = self._find_boundary()
            if cut is None:
                break
            piece, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
            self._scan_from = 0
            if piece:
                out.append(piece)
        if len(self._buf) > self.max_chars:
            out.extend(self._split_run_on())
        return out

    def flush(self) -> list[str]:
        rest, self._buf, self._scan_from = self._buf.strip(), "", 0
        return [rest] if rest else []

    # ---- internals ---------------------------------------------------------------------

    def _find_boundary(self) -> int | None:
        buf = self._buf
        i = self._scan_from
        n = len(buf)
        while i < n:
            ch = buf[i]
            if ch == "\n":
                if len(buf[:i].strip()) >= 1:
                    if len(buf[:i].strip()) >= self.min_chars:
                        return i + 1
                i += 1
                continue
            if ch in _TERMINATORS:
                j = i + 1
                while j < n and (buf[j] in _TERMINATORS or buf[j] in _CLOSERS):
                    j += 1
                if j >= n:
                    # Cannot decide before the next character arrives.
                    self._scan_from = i
                    return None
                if buf[j].isspace() and self._is_sentence_end(i, j):
                    if len(buf[:j].strip()) >= self.min_chars:
                        return j
                i = j
                continue
            i += 1
        self._scan_from = n
        return None

    def _is_sentence_end(self, dot: int, after: int) -> bool:
        buf = self._buf
        if buf[dot] != ".":
            return True  # ! ? … always end a sentence
        start = dot
        while start > 0 and not buf[start - 1].isspace() and buf[start - 1] not in "(\"'":
            start -= 1
        word = buf[start:dot].lower()
        if not word:
            return True
        next_word = buf[after:].lstrip()
        next_upper = bool(next_word) and next_word[0].isupper()
        if len(word) == 1 and word.isalpha():
            return False  # an initial: "J. Smith"
        if word in ABBREVIATIONS:
            return word in _SOFT_ABBREVIATIONS and next_upper
        return True

    def _split_run_on(self) -> list[str]:
        buf = self._buf
        window = buf[: self.max_chars]
        cut = max(window.rfind(c + " ") for c in _SOFT_BREAKS)
        if cut < self.min_chars:
            cut = window.rfind(" ")
        if cut < self.min_chars:
            return []
        piece, self._buf = buf[: cut + 1].strip(), buf[cut + 1 :].lstrip()
        self._scan_from = 0
        return [piece] if piece else []


def split_sentences(text: str, *, min_chars: int = 8) -> list[str]:
    """Whole-text convenience: every sentence of `text`."""
    s = SentenceSplitter(min_chars=min_chars)
    return s.push(text) + s.flush()
