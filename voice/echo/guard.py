"""The echo-text guard: a transcript of the bot's own words is echo, not the caller.

The echo canceller removes what the reference explains, but a recogniser is sensitive
enough to hear a residue (or a first second of echo before the canceller has learnt the
path), and the offline recogniser, constrained to the script's phrases, turns any voice
into one of them. The bot knows what it was saying and when: each spoken utterance has
the chunks that carried it and when they played (`Utterance.chunks`, from the playback
clock), and a killAudio ends all of them. Words are laid over their utterance's playing
time in proportion (as `heard_text` does). A transcript whose words are, for the most
part, words the caller's speaker was playing in the window the transcript can come from
(its speech, widened by the echo's longest delay) is echo. Words match as the intent
matcher's tokens do: crude stems, and near-misses of a recogniser ("our"/"hour").

Provider-agnostic: the session asks the guard for every interim and final transcript,
whichever recogniser produced it (the offline one, Deepgram).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from voice.playback import EST_MS_PER_CHAR, Utterance
from voice.providers.text import similarity, stem, words

MAX_ECHO_DELAY_S = 0.6
WORD_S = 0.45  # a recognised word covers at most this much audio (padding for the window)


@dataclass(frozen=True, slots=True)
class EchoVerdict:
    echo: bool
    matched: int
    words: int
    bot_words: tuple[str, ...]


class EchoTextGuard:
    """One per call: `track` every utterance the bot starts, `cut` on killAudio."""

    def __init__(self, *, threshold: float = 0.6, max_delay_s: float = MAX_ECHO_DELAY_S, keep: int = 32) -> None:
        self.threshold = threshold
        self.max_delay_s = max_delay_s
        self._utterances: deque[Utterance] = deque(maxlen=keep)
        self._cuts: list[float] = []
        self.rejected = 0

    def track(self, utterance: Utterance) -> None:
        if not any(u is utterance for u in self._utterances):
            self._utterances.append(utterance)

    def cut(self, at: float) -> None:
        self._cuts.append(at)
        del self._cuts[:-8]

    def played_words(self, start: float, end: float) -> list[str]:
        """Words the caller's speaker was playing between `start` and `end` (bot clock)."""
        out: list[str] = []
        for utt in self._utterances:
            if not utt.chunks:
                continue
            first = utt.chunks[0][0]
            sent = sum(d for _, d in utt.chunks)
            total = sent if utt.complete else max(sent, len(utt.text) * EST_MS_PER_CHAR / 1000)
            played_end = first + total
            for cut in self._cuts:
                if first <= cut < played_end:
                    played_end = cut
            ws = words(utt.text)
            if not ws or played_end <= start or first >= end:
                continue
            per = total / len(ws)
            for i, w in enumerate(ws):
                w_start = first + i * per
                if w_start >= played_end:
                    break
                if w_start < end and w_start + per > start:
                    out.append(w)
        return out

    def check(self, transcript: str, *, speech_start: float | None, now: float) -> EchoVerdict:
        """Is `transcript` (heard by `now`, of speech that began at `speech_start` if known)
        the bot's own voice?"""
        said = words(transcript)
        if not said:
            return EchoVerdict(False, 0, 0, ())
        span = max(len(said) * WORD_S, 0.6)
        start = (speech_start if speech_start is not None else now - span) - self.max_delay_s - 0.3
        start = min(start, now - span - self.max_delay_s)
        bot = self.played_words(start, now)
        if not bot:
            return EchoVerdict(False, 0, len(said), ())
        stems = [stem(w) for w in bot]
        matched = sum(1 for w in said if _matches(stem(w), stems))
        echo = matched >= 1 and matched / len(said) >= self.threshold
        if echo:
            self.rejected += 1
        return EchoVerdict(echo, matched, len(said), tuple(bot))


def _matches(word: str, candidates: list[str]) -> bool:
    return any(similarity(word, c) > 0 for c in candidates)
