"""The end-of-turn scorer: words and prosody -> probability that the caller is done.

A logistic model over a few features: the words' own log-odds for the kind of
ending the transcript has (`lexical.PRIOR_LOGIT`, set by hand from what the words
mean, since no small corpus can teach that a sentence does not end on "and"), the
pitch slope, final pitch level, final lengthening
and loudness of the last words (`prosody.ProsodyCue`), and the slope again for the
endings whose words leave it open (a statement, a digit run), where the melody is
what tells "my order number is one two three" (level: more digits coming) from the
same words said to the end (falling).

The weights (`weights.json`, a few hundred bytes) were fitted offline on a generated
corpus of eSpeak phrases with inserted pauses (`python -m bench.turn_train`); they
ship with the package, so nothing is downloaded at run time. Scoring is a dot
product: microseconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources

from voice.turn.lexical import Ending, TextCue
from voice.turn.prosody import ProsodyCue

_OPEN_WORDS = (Ending.STATEMENT, Ending.CLOSER, Ending.OBJECT_OPEN)
FEATURES = ["words", "slope", "level", "lengthening", "energy", "voicing", "open_words*slope", "open_words*level",
            "open_words*energy", "digits*slope", "digits*level", "digits*energy"]


def features(text: TextCue, prosody: ProsodyCue, *, use_text: bool = True, use_prosody: bool = True) -> list[float]:
    """The model's input vector (FEATURES order); a side switched off reads as neutral zeros."""
    words = [text.prior if use_text else 0.0]
    if not use_prosody or prosody.voiced < 4:
        return words + [0.0] * 11
    open_words = 1.0 if (text.ending in _OPEN_WORDS or not use_text) else 0.0
    digits = 1.0 if (text.ending is Ending.DIGITS and use_text) else 0.0
    slope = prosody.slope / 20.0
    level = prosody.level / 6.0
    energy = prosody.energy / 10.0
    return words + [slope, level, prosody.lengthening - 1.0, energy, 1.0, open_words * slope, open_words * level,
                    open_words * energy, digits * slope, digits * level, digits * energy]


@dataclass(frozen=True, slots=True)
class TurnModel:
    """Logistic weights over FEATURES; `score()` is P(the turn is over)."""

    weights: tuple[float, ...]
    bias: float
    use_text: bool = True
    use_prosody: bool = True
    name: str = "words+prosody"

    def score(self, text: TextCue, prosody: ProsodyCue) -> float:
        x = features(text, prosody, use_text=self.use_text, use_prosody=self.use_prosody)
        z = self.bias + sum(w * v for w, v in zip(self.weights, x, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "features": FEATURES, "weights": [round(w, 4) for w in self.weights],
                           "bias": round(self.bias, 4), "use_text": self.use_text, "use_prosody": self.use_prosody},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> TurnModel:
        data = json.loads(text)
        if data.get("features") != FEATURES:
            raise ValueError("turn model weights were fitted for other features; refit them")
        return cls(tuple(float(w) for w in data["weights"]), float(data["bias"]), bool(data.get("use_text", True)),
                   bool(data.get("use_prosody", True)), str(data.get("name", "words+prosody")))


def default_model() -> TurnModel:
    """The shipped weights."""
    return _DEFAULT


_DEFAULT = TurnModel.from_json(resources.files("voice.turn").joinpath("weights.json").read_text(encoding="utf-8"))
