"""The end of a call the bot decides: the last line, then the transfer or the disconnect.

A transfer or hang-up (asked by a supervisor or by the LLM's tool call) says its line,
which nothing interrupts, waits until the caller's playback clock says it has been heard
(plus a small margin), and only then sends `transfer` / `disconnect`: the Stream Node acts
at once, and a line still in its queue would be cut. Knowlarity then ends the stream; if
it keeps the socket open past `close_grace_s`, the bot closes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from voice import protocol
from voice.bus import Transferred
from voice.call_tap import CallTap
from voice.clock import Clock
from voice.outcome import Ending
from voice.playback import Speaker
from voice.providers.base import ProviderError
from voice.reply import CallGone, Reply, Voices

Logger = logging.Logger | logging.LoggerAdapter[Any]
Action = Literal["transfer", "disconnect"]


class Handoff:
    """One call's last act; `run` is awaited by the reply that carries the last line."""

    def __init__(
        self, *, call_id: str, clock: Clock, speaker: Speaker, voices: Voices, tap: CallTap,
        send_text: Callable[[str], Awaitable[None]], close_connection: Callable[[str], Awaitable[None]] | None,
        close_grace_s: float, closed: Callable[[], bool], log: Logger, control_log: Logger,
    ) -> None:
        self.call_id = call_id
        self.clock = clock
        self.speaker = speaker
        self.voices = voices
        self.tap = tap
        self._send_text = send_text
        self._close_connection = close_connection
        self.close_grace_s = close_grace_s
        self._closed = closed
        self.log = log
        self.control_log = control_log
        self.sent: Ending | None = None  # set once transfer / disconnect went out: who ended the call

    async def run(
        self, reply: Reply, line: str | None, ending: Ending, *, heard: Callable[[Reply], None]
    ) -> None:
        """Say `line` (if any), wait until it has played, call `heard(reply)`, then transfer
        (a "transferred" ending: its detail is the destination) or disconnect.

        `ending` (who asked) becomes the call's outcome only once the command is sent: a
        caller who hangs up during the last line ended the call themselves."""
        action: Action = "transfer" if ending.outcome == "transferred" else "disconnect"
        dest = ending.detail if action == "transfer" else None
        try:
            if line:
                try:
                    await self.voices.line(reply, self.voices.player(reply), line)
                except ProviderError as exc:
                    self.log.error("could not speak %r: %s", line, exc)
            await self.speaker.playback.wait_played(margin_s=0.05)
            heard(reply)
            if dest is not None:
                await self._send_text(protocol.transfer(dest))
                self.sent = ending
                self.control_log.info("transfer sent | destination=%s", dest)
                self.tap.publish(Transferred(call_id=self.call_id, destination=dest))
            else:
                await self._send_text(protocol.DISCONNECT)
                self.sent = ending
                self.control_log.info("disconnect sent")
        except CallGone:
            return
        if self._close_connection is not None:  # the Stream Node should hang up; make sure it does
            await self.clock.sleep(self.close_grace_s)
            if not self._closed():
                self.log.info("the Stream Node kept the socket open after %s; closing it", action)
                await self._close_connection(f"{action} sent")
