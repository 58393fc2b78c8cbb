"""The phase of a call: one explicit state, and the changes it may make.

A `CallSession` is in exactly one `Phase`. Three of them are the bot's ordinary
turn-taking (listening, thinking, speaking); two are the end of a call the bot
decided (transferring, hanging up: the last line plays, nothing interrupts it, then
the transfer or disconnect is sent); two are the teardown (closing while tasks are
cancelled, then ended). `ALLOWED` is the whole table: a change it does not list is a
bug somewhere, so `PhaseMachine` refuses it and logs it instead of acting on it.

What supervisors see (`voice.bus.BotState`) follows from the phase (`bot_state`):
hanging up shows as speaking (the goodbye line), closing shows nothing new.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

from voice.bus import BotState


class Phase(enum.Enum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    TRANSFERRING = "transferring"
    HANGING_UP = "hanging up"
    CLOSING = "closing"
    ENDED = "ended"

    @property
    def ending(self) -> bool:
        """The call is on its way out: no new turn, barge-in or supervisor command."""
        return self in _ENDING

    @property
    def closed(self) -> bool:
        """The socket side is finished: nothing more is sent or fed."""
        return self in (Phase.CLOSING, Phase.ENDED)


_ENDING = frozenset({Phase.TRANSFERRING, Phase.HANGING_UP, Phase.CLOSING, Phase.ENDED})
_TALKING = frozenset({Phase.LISTENING, Phase.THINKING, Phase.SPEAKING})

ALLOWED: dict[Phase, frozenset[Phase]] = {
    **{p: (_TALKING - {p}) | {Phase.TRANSFERRING, Phase.HANGING_UP, Phase.CLOSING} for p in _TALKING},
    Phase.TRANSFERRING: frozenset({Phase.CLOSING}),
    Phase.HANGING_UP: frozenset({Phase.CLOSING}),
    Phase.CLOSING: frozenset({Phase.ENDED}),
    Phase.ENDED: frozenset(),
}

_BOT_STATE: dict[Phase, BotState | None] = {
    Phase.LISTENING: "listening",
    Phase.THINKING: "thinking",
    Phase.SPEAKING: "speaking",
    Phase.TRANSFERRING: "transferring",
    Phase.HANGING_UP: "speaking",
    Phase.CLOSING: None,
    Phase.ENDED: "ended",
}


def bot_state(phase: Phase) -> BotState | None:
    """What the bus shows for `phase` (None: no change to show)."""
    return _BOT_STATE[phase]


class PhaseMachine:
    """The current phase; `to(new)` changes it if the table allows.

    `on_change(old, new)` runs after every allowed change. Asking for the phase the
    call is already in is a no-op, not an error (two paths may agree).
    """

    def __init__(
        self,
        log: logging.Logger | logging.LoggerAdapter[Any],
        on_change: Callable[[Phase, Phase], None],
        start: Phase = Phase.LISTENING,
    ) -> None:
        self.phase = start
        self._log = log
        self._on_change = on_change
        self.refused: list[tuple[Phase, Phase]] = []

    def to(self, new: Phase) -> bool:
        """Enter `new`; False (and a warning) if the table does not allow it."""
        old = self.phase
        if new is old:
            return True
        if new not in ALLOWED[old]:
            self.refused.append((old, new))
            self._log.warning("phase change %s -> %s refused (not allowed)", old.value, new.value)
            return False
        self.phase = new
        self._on_change(old, new)
        return True
