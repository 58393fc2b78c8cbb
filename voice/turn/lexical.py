"""The words side of turn-taking: does the transcript so far read like a finished turn?

A caller who says "what are your opening hours" is done; one who says "I want to",
"my order number is", "and", "uh" or half of a phone number is not, whatever the
silence after it. This module reads the last words of a transcript and names the kind
of ending it has (`Ending`); the detector weighs that against the prosody.

It is a small rule set, not a language model, on purpose: the endings that matter on
a phone line are a short closed list (conjunctions, prepositions, determiners,
fillers, digit runs, closers), it costs microseconds, and it cannot be surprised by
words it never saw: an unknown word just makes a plain "statement" ending, and the
prosody decides. Indian English and Hinglish are first-class: "haan", "accha",
"theek hai", "ji", "bas" close a turn; "aur", "lekin", "toh", "matlab" keep it open;
Hindi digit words count as digits; Devanagari is tokenised as words, not dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# How strongly each ending says "done" before any prosody, as a log-odds. Set by hand, from
# what the words mean (a sentence cannot end on "and"); the model fits how far to trust it.
PRIOR_LOGIT = {
    "empty": -3.0, "filler": -4.0, "continuation": -4.0, "digits_open": -4.0, "object_open": -1.5, "digits": -1.0,
    "statement": 0.5, "question": 2.5, "closer": 1.0,
}

_TOKEN = re.compile(r"[\w\u0900-\u097F']+")


class Ending(str, Enum):
    """How the transcript ends, from most to least likely to continue."""

    EMPTY = "empty"  # no words yet
    FILLER = "filler"  # "uh", "um", "matlab": the caller is thinking
    CONTINUATION = "continuation"  # "and", "to", "my", "is": the sentence cannot stop here
    DIGITS_OPEN = "digits_open"  # a phone number short of its length
    OBJECT_OPEN = "object_open"  # "I want to check", "tell me the": a verb still waiting for its object
    DIGITS = "digits"  # a digit run that may or may not be complete (an order id)
    STATEMENT = "statement"  # ends on a content word: prosody decides
    QUESTION = "question"  # a question with its content: "what time do you close"
    CLOSER = "closer"  # "thank you", "yes", "haan", "theek hai": complete on its own


FILLERS = frozenset(
    "uh uhh uhm um umm hmm hm mm er erm ah eh ehm matlab woh wo voh yaani basically actually".split()
)
CONTINUATIONS = frozenset(
    """and or but so because cause coz cuz then if when while than whether unless although though
    to of for with at in on from about into by as like via per
    the a an my your our his her their its this these those some any every each no
    i we i'm i'll i've i'd we're let's please
    is are was were am be been being has have had do does did will would can could should
    want wanted need needed trying going gonna wanna
    aur lekin magar par ya toh ki ke ka ko se mein main agar jab kyunki kyonki phir mera meri mere
    aapka aapki humara hamara apna""".split()
)
# words after which "is"/"are" can end a sentence ("yes it is", "that's where it is")
_COPULA = frozenset("is are was were am".split())
_COPULA_OK_AFTER = frozenset("it that this he she they here".split())
CLOSERS = frozenset(
    """thanks thank thankyou okay ok yes yeah yep yup no nope nah sure right correct fine great
    bye goodbye hello hi hey done haan haa han ha haanji ji jee nahi nahin nai accha acha achha
    theek thik hai hain tha thi dhanyavaad dhanyawad shukriya bas bilkul sahi chalo""".split()
) | frozenset("हाँ हां जी ठीक है हैं नहीं अच्छा धन्यवाद शुक्रिया बस".split())
_CLOSING_PAIRS = frozenset({("thank", "you"), ("theek", "hai"), ("thik", "hai"), ("no", "problem"), ("that's", "all"),
                            ("that's", "it"), ("ठीक", "है")})
QUESTION_STARTS = frozenset(
    """what what's when where where's how who whom whose which why can could do does did is are was were
    will would should may shall have has kya kab kahan kaise kaun kitna kitne kitni kyun""".split()
)
_WH = frozenset("what what's when where where's how who whose which why kya kab kahan kaise kaun kitna kyun".split())
DIGIT_WORDS = {
    "zero": 1, "oh": 1, "o": 1, "one": 1, "two": 1, "three": 1, "four": 1, "five": 1, "six": 1, "seven": 1,
    "eight": 1, "nine": 1, "double": 0, "triple": 0,
    # Hindi / Hinglish digits
    "shunya": 1, "ek": 1, "do": 1, "teen": 1, "char": 1, "chaar": 1, "paanch": 1, "panch": 1, "chhe": 1,
    "che": 1, "chah": 1, "saat": 1, "sat": 1, "aath": 1, "aat": 1, "nau": 1,
}
_REPEAT = {"double": 2, "triple": 3}
PHONE_CUES = frozenset("phone mobile cell contact whatsapp callback landline".split())
PHONE_LENGTHS = (10, 11, 12)  # an Indian mobile (10), with a trunk 0 (11) or +91 (12)
_NON_DIGIT_DO = frozenset("i you we they what how can could did".split())  # "do" is a verb after these
# words that open a turn without starting its sentence: skipped when looking for a question
DISCOURSE = frozenset("""haan haa han ha ji accha acha achha okay ok so and but um uh hmm well yes yeah no theek thik hai
    hello hi hey sorry excuse me toh aur""".split())
# verbs a caller's request puts an object after: "I want to check ...", "I'd like to know ..."
_OBJECT_VERBS = frozenset("""know check ask tell find get change cancel book confirm update make give see speak talk
    order buy pay reach""".split())
_AUX = frozenset("do does did can could will would should are is was were have has shall may".split())
_SUBJECTS = frozenset("you i we they".split())


def tokens(text: str) -> list[str]:
    """Lowercase words, Devanagari included, apostrophes kept inside words."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


@dataclass(frozen=True, slots=True)
class TextCue:
    """What the last words say: the ending's kind, the word count and any trailing digit run."""

    ending: Ending
    words: int
    digits: int = 0  # length of the trailing digit run (0: none)

    @property
    def prior(self) -> float:
        """The words' own log-odds that the turn is over."""
        return PRIOR_LOGIT[self.ending.value]


def _digit_run(words: list[str]) -> tuple[int, int]:
    """(digits, words) of the run of digit words / numerals at the end of `words`."""
    count = 0
    used = 0
    for w in reversed(words):
        if w.isdigit():
            count += len(w)
        elif w in _REPEAT:
            count += _REPEAT[w] - 1  # "double five": the five was counted once already
        elif DIGIT_WORDS.get(w):
            if w in ("do", "o", "oh") and used == 0:
                break  # at the very end these are words, not digits ("what do I do", "oh no")
            if w == "do" and len(words) > used + 1 and words[-used - 2] in _NON_DIGIT_DO:
                break
            count += 1
        else:
            break
        used += 1
    return count, used


def read_ending(text: str) -> TextCue:
    """Classify the end of a transcript (partial or final)."""
    words = tokens(text)
    n = len(words)
    if n == 0:
        return TextCue(Ending.EMPTY, 0)
    last = words[-1]
    prev = words[-2] if n > 1 else ""
    digits, digit_words = _digit_run(words)
    if digits:
        before = words[: n - digit_words]
        phone = any(w in PHONE_CUES for w in before[-6:])
        if digits in PHONE_LENGTHS:
            return TextCue(Ending.DIGITS if not phone else Ending.STATEMENT, n, digits)
        if phone or (digits < 3 and not before):
            return TextCue(Ending.DIGITS_OPEN, n, digits)
        return TextCue(Ending.DIGITS, n, digits)
    if last in FILLERS or (last == "like" and prev in ("you", "um", "uh")) or (prev, last) == ("you", "know"):
        return TextCue(Ending.FILLER, n)
    if last in _SUBJECTS and prev in _AUX:  # "what time do you", "can I"
        return TextCue(Ending.CONTINUATION, n)
    if (prev, last) in _CLOSING_PAIRS:
        return TextCue(Ending.CLOSER, n)
    if last in _COPULA:
        if prev in _COPULA_OK_AFTER:
            return TextCue(Ending.STATEMENT, n)
        return TextCue(Ending.CONTINUATION, n)
    if last in CONTINUATIONS and not (last == "no" and n <= 2) and not (last == "please" and n > 1):
        return TextCue(Ending.CONTINUATION, n)
    if last in CLOSERS and (n <= 3 or last in ("hai", "hain", "tha", "thi", "है", "हैं") or prev in CLOSERS):
        return TextCue(Ending.CLOSER, n)
    if (prev == "to" and last in _OBJECT_VERBS) or (prev, last) in (("tell", "me"), ("give", "me"), ("show", "me")):
        return TextCue(Ending.OBJECT_OPEN, n)
    for i in range(n - 3, -1, -1):  # the last clause that opens like a question: "so my order, uh, has it shipped"
        opens = i == 0 or words[i - 1] in DISCOURSE or words[i - 1] in FILLERS or (i <= 2 and words[i] in _WH)
        if words[i] in QUESTION_STARTS and opens:
            return TextCue(Ending.QUESTION, n)
    if last in ("kya", "na", "please"):
        return TextCue(Ending.CLOSER, n)
    return TextCue(Ending.STATEMENT, n)
