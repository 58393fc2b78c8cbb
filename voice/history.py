"""What the LLM is told about the call: the conversation as the caller heard it.

Only what the caller heard goes into the history: a reply cut at instant T keeps
the sentences heard in full and the words of the cut one in proportion to the time
played (see `voice.playback.heard_text`). A reply cut before the caller heard
anything leaves its question "unanswered": it is merged into the caller's next
utterance, so the LLM answers both. A reply that failed with nothing heard leaves
nothing: the apology asks the caller to say it again.

The unanswered text is capped to its last `max_unanswered_words` words (about ten seconds
of speech): on a noisy line every cough or click can start a turn that the next one cuts,
and without a cap the question grew with each of them (1,479 characters after 186 such
turns) — a prompt that only gets slower and more confused. What the caller said last is
what matters; older fragments are dropped.
"""

from __future__ import annotations

from voice.providers.base import ChatMessage

# ~2.5 words a second in conversation: this keeps the last ten seconds or so of speech.
MAX_UNANSWERED_WORDS = 25
MAX_UNANSWERED_CHARS = 250


class CallHistory:
    """`messages` for the LLM, and the question still waiting for an answer."""

    def __init__(self, *, max_unanswered_words: int = MAX_UNANSWERED_WORDS,
                 max_unanswered_chars: int = MAX_UNANSWERED_CHARS) -> None:
        self.messages: list[ChatMessage] = []
        self.unanswered = ""
        self.max_unanswered_words = max(1, max_unanswered_words)
        self.max_unanswered_chars = max(1, max_unanswered_chars)

    def prompt(self, system_prompt: str, user_text: str) -> list[ChatMessage]:
        """The request for an answer to `user_text`."""
        return [ChatMessage("system", system_prompt), *self.messages, ChatMessage("user", user_text)]

    def take_question(self, text: str) -> str:
        """`text` with any unanswered question in front; the question is taken."""
        question, self.unanswered = f"{self.unanswered} {text}".strip(), ""
        return question

    def answered(self, user_text: str, heard: str, *, failed: bool = False) -> None:
        """An answer ended: the caller heard `heard` (maybe nothing) of it."""
        if heard:
            if user_text:
                self.messages.append(ChatMessage("user", user_text))
            self.messages.append(ChatMessage("assistant", heard))
        elif not failed:  # cut before a word was heard: the question is still open
            self.unanswered = self._last_words(f"{self.unanswered} {user_text}")

    def _last_words(self, text: str) -> str:
        """The end of `text`: at most the last words and characters the caps allow, whole words."""
        words = text.split()[-self.max_unanswered_words:]
        while len(words) > 1 and len(" ".join(words)) > self.max_unanswered_chars:
            words.pop(0)
        kept = " ".join(words)
        return kept[-self.max_unanswered_chars:]

    def said(self, heard: str) -> None:
        """Something else the bot said (greeting, supervisor line, resume, apology)."""
        if heard:
            self.messages.append(ChatMessage("assistant", heard))
