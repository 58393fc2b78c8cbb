"""Word-level text helpers shared by the scripted responder and the offline recogniser.

The scripted responder matches what a recogniser heard against the phrases of a bot
script, and the recogniser is built from the same phrases. Both must cut text into
words the same way, or a word the recogniser can say would never match the script.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

DIGIT_WORDS: dict[str, str] = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# Words that carry no intent. Kept small on purpose: "when", "where", "how much" and
# friends are what tell "opening hours" from "address" from "prices".
STOPWORDS = frozenset(
    """a an the is are am was were be been i i'm im me my mine you your you're we our us it it's its
    to of in on at for from and or but so do does did can could would will shall should may might
    please just like um uh er hmm well ok okay oh hi hello hey there this that these those with
    about any some have has had get got want wanted need know tell let let's which""".split()
)


def words(text: str) -> list[str]:
    """Lowercase words of `text`; numerals stay as digit strings, apostrophes kept inside words."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def stem(word: str) -> str:
    """A deliberately crude stem so "hours"/"hour", "prices"/"price", "opens"/"open" meet."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_tokens(text: str) -> list[str]:
    """Stemmed words without stopwords: what intent matching compares."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def similarity(a: str, b: str) -> float:
    """How alike two tokens are, 0..1; near-misses of a recogniser ("our"/"hour") score high."""
    if a == b:
        return 1.0
    if min(len(a), len(b)) < 4:
        return 0.0
    ratio = SequenceMatcher(None, a, b).ratio()
    return ratio if ratio >= 0.8 else 0.0


def extract_digits(text: str) -> str:
    """Digits spoken or written in `text`: "one two 3 four" -> "1234"."""
    out: list[str] = []
    for w in words(text):
        if w.isdigit():
            out.append(w)
        elif w in DIGIT_WORDS and w != "oh":
            out.append(DIGIT_WORDS[w])
        elif w == "oh" and out:  # "oh" is a zero only inside a number ("one oh five")
            out.append("0")
    return "".join(out)


def spell_digits(digits: str) -> str:
    """Digits as words, for any TTS to read one by one: "105" -> "one zero five"."""
    return " ".join(_DIGIT_NAMES[int(d)] for d in digits if d.isdigit())


def number_words() -> list[str]:
    """Words a caller uses to say a number; always in the recogniser's vocabulary."""
    return [*_DIGIT_NAMES, "double"]
