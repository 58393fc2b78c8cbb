"""Turn-taking: deciding, from the caller's audio and words, when their turn is over.

`TurnDetector` (detector.py) is the one entry point; `lexical` reads the words,
`prosody` the melody, `model` weighs them.
"""

from voice.turn.detector import TurnConfig, TurnDecision, TurnDetector, TurnState
from voice.turn.lexical import Ending, TextCue, read_ending
from voice.turn.model import TurnModel, default_model

__all__ = ["Ending", "TextCue", "TurnConfig", "TurnDecision", "TurnDetector", "TurnModel", "TurnState",
           "default_model", "read_ending"]
