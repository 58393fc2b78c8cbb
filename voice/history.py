"""What the LLM is told about the call: the conversation as the caller heard it.

Only what the caller heard goes into the history: a reply cut at instant T keeps
the sentences heard in full and the words of the cut one in proportion to the time
played (see `voice.playback.heard_text`). A reply cut before the caller heard
anything leaves its question "unanswered": it is merged into the caller's next
utterance, so the LLM answers both. A reply that failed with nothing heard leaves
nothing: the apology asks the caller to say it again.
"""

from __future__ import annotations

from voice.providers.base import ChatMessage


class CallHistory:
    """`messages` for the LLM, and the question still waiting for an answer."""

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self.unanswered = ""

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
            self.unanswered = f"{self.unanswered} {user_text}".strip()

    def said(self, heard: str) -> None:
        """Something else the bot said (greeting, supervisor line, resume, apology)."""
        if heard:
            self.messages.append(ChatMessage("assistant", heard))
