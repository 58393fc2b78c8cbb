"""Who ended a call, as one typed value: the bot, the panel, the log, the recording and the
metrics all read it instead of guessing from a sentence.

The outcome is set where the decision is made: the handoff once it has sent `transfer` or
`disconnect` (the bot's own end_call, a supervisor's hang-up, a transfer), the server when
the Stream Node closes the socket, a limit ends the call, the server shuts down or a bug
ends it. `reason` stays the human sentence; `outcome` + `detail` are what code reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

CallOutcome = Literal[
    "caller_hangup",      # the Stream Node closed the socket: the caller hung up
    "bot_ended",          # the bot's end_call tool: goodbye, then disconnect
    "supervisor_hangup",  # a supervisor's hang-up (monitor or fleet command)
    "transferred",        # transfer sent; detail is the destination
    "shutdown",           # the bot server stopped (or drained) with the call still live
    "limit",              # a limit ended it (no audio for BOT_IDLE_TIMEOUT_S, ...); detail says which
    "error",              # a bad frame, a lost connection or a bug; detail says which
    "unknown",            # an event from a peer or recording older than this field
]
OUTCOMES: frozenset[str] = frozenset(get_args(CallOutcome))


@dataclass(frozen=True, slots=True)
class Ending:
    """One call's outcome and its detail (a destination, a limit, an error)."""

    outcome: CallOutcome
    detail: str = ""

    @property
    def text(self) -> str:
        """The human sentence for this ending (CallEnded.reason, the log, the panel)."""
        return describe(self.outcome, self.detail)


def describe(outcome: CallOutcome, detail: str = "", reason: str = "") -> str:
    """The one wording of an outcome; `reason` is the fallback for "unknown" (old events)."""
    if outcome == "caller_hangup":
        return "caller hung up"
    if outcome == "bot_ended":
        return "bot ended the call"
    if outcome == "supervisor_hangup":
        return "hung up by supervisor"
    if outcome == "transferred":
        return f"transferred to {detail}" if detail else "transferred"
    if outcome == "shutdown":
        return f"server shutting down ({detail})" if detail else "server shutting down"
    if outcome in ("limit", "error"):
        return detail or reason or outcome
    return reason or detail or "ended"
