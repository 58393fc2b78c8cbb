"""Speculative start: prepare the answer while the caller's turn is probably, not surely, over.

A recogniser with a turn detector sends an `eager` interim when the turn is probably
over (a complete-sounding question after ~100 ms of silence) and the confirming
speech_final final a little later, or never, if the caller goes on. Starting the LLM
and TTS on the eager transcript takes their latency off the caller's wait; holding
the answer before its first audio keeps the bot from talking over a caller who only
paused. So:

- `begin(text, reply)`: the answer runs with `reply.hold` unset; its play stage
  waits on it before the first chunk, and nothing is sent.
- `take(text)`: the turn is confirmed with `text`. If the words are the ones the
  answer was started on, the held reply is returned (the session releases it);
  otherwise it is cancelled and the session starts a fresh answer.
- `cancel(why)`: the caller went on (a VAD onset), a supervisor took over, the call
  ends: the answer's task is cancelled. Nothing was spoken, so nothing is killed,
  and nothing goes into the history.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from voice.reply import Reply
from voice.turn.lexical import tokens


@dataclass
class Speculation:
    words: list[str]
    reply: Reply


class SpeculativeStart:
    """At most one held answer per call; counts what became of them."""

    def __init__(self, *, enabled: bool, log: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.enabled = enabled
        self.log = log
        self.current: Speculation | None = None
        self.started = 0
        self.confirmed = 0
        self.cancelled = 0

    def wants(self, text: str) -> bool:
        """Worth starting an answer on `text` (enabled, and not already started on these words)?"""
        if not self.enabled or not tokens(text):
            return False
        return self.current is None or self.current.words != tokens(text)

    def begin(self, text: str, reply: Reply) -> None:
        """`reply` (its task running, `hold` unset) is the answer prepared for `text`."""
        self.cancel("other words")
        reply.hold = asyncio.Event()
        self.current = Speculation(tokens(text), reply)
        self.started += 1
        self.log.debug("speculative answer started on %r", text[:80])

    def take(self, text: str) -> Reply | None:
        """The confirmed turn's words: the held reply when they match (else it is cancelled)."""
        spec = self.current
        if spec is None:
            return None
        reply = spec.reply
        if spec.words != tokens(text) or reply.task is None or reply.task.done():
            self.cancel("the turn's words changed")
            return None
        self.current = None
        self.confirmed += 1
        return reply

    def adopt(self, text: str, *, epoch: int, current: Reply | None) -> Reply | None:
        """The held reply for the confirmed turn `text`, if it still fits: same words, no kill
        since it started (`epoch`), nothing else speaking (`current`). Else it is dropped."""
        held = self.take(text)
        if held is not None and held.epoch == epoch and (current is None or current.finalized):
            return held
        if held is not None and held.task is not None:
            held.task.cancel()
        return None

    def cancel(self, why: str) -> None:
        spec, self.current = self.current, None
        if spec is None:
            return
        self.cancelled += 1
        self.log.debug("speculative answer cancelled (%s); nothing was spoken", why)
        if spec.reply.task is not None and spec.reply.task is not asyncio.current_task():
            spec.reply.task.cancel()
