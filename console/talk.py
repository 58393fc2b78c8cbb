"""Talking to the bot from the console: the supervisor's microphone is the caller.

"listen" plays a live call on the speaker; "talk" places a test call: the console plays the
Stream Node itself (`voice.caller.Caller`, the very caller `kconsole call --mic` uses),
streams the microphone as the caller's side in 20 ms frames and plays the bot's answers on
the speaker. The call reaches the bot like any other, so its transcript, barge-ins and
timings appear in the Bot view as it goes. Without PortAudio or a device, `start()`
returns the reason in one line and nothing is dialled. No Textual here.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from voice.caller import Caller, CallReport
from voice.protocol import CallMetadata

log = logging.getLogger("console.talk")

TEST_CALLER = "+910000000000"  # shown as the caller of a supervisor's test call


def _microphone(sample_rate: int) -> Any:
    from voice import sound  # noqa: PLC0415 - touches PortAudio only when asked

    return sound.Microphone(sample_rate).start()


def _speaker(sample_rate: int) -> Any:
    from voice import sound  # noqa: PLC0415 - PortAudio only when talking

    return sound.Player(sample_rate).start()


class TalkSession:
    """One test call from this console to the bot, the microphone as the caller."""

    def __init__(
        self,
        url: str,
        *,
        sample_rate: int = 16000,
        token: str | None = None,
        virtual_number: str = "+918047100300",
        microphone: Callable[[int], Any] = _microphone,
        speaker: Callable[[int], Any] | None = _speaker,
    ) -> None:
        self.url = url if not token else f"{url}?token={token}"
        self.sample_rate = sample_rate
        self.call_id = f"talk-{uuid.uuid4().hex[:12]}"
        self.virtual_number = virtual_number
        self._open_microphone = microphone
        self._open_speaker = speaker
        self.mic: Any = None
        self.player: Any = None
        self.caller: Caller | None = None
        self.report: CallReport | None = None

    def start(self) -> str | None:
        """Open the microphone (and the speaker); returns why it cannot, or None."""
        try:
            self.mic = self._open_microphone(self.sample_rate)
        except Exception as exc:  # noqa: BLE001 - sound is optional; the reason is shown
            return f"cannot use the microphone: {exc}"
        if self._open_speaker is not None:
            try:
                self.player = self._open_speaker(self.sample_rate)
            except Exception as exc:  # noqa: BLE001 - talking without hearing the bot still works
                log.info("talk: no speaker (%s); the bot's words are in the transcript", exc)
                self.player = None
        metadata = CallMetadata(callid=self.call_id, virtual_number=self.virtual_number, customer_number=TEST_CALLER)
        self.caller = Caller(self.url, sample_rate=self.sample_rate, metadata=metadata, sink=self.player,
                             no_audio_timeout=8.0, reply_timeout=30.0)
        return None

    async def run(self) -> CallReport:
        """Place the call; returns when the bot or `hang_up()` ends it."""
        assert self.caller is not None and self.mic is not None, "start() first"
        mic: AsyncIterator[bytes] = aiter(self.mic)
        try:
            self.report = await self.caller.run(mic=mic)
        finally:
            self.close()
        return self.report

    def hang_up(self) -> None:
        if self.caller is not None:
            self.caller.hangup()

    def close(self) -> None:
        for device in (self.mic, self.player):
            if device is not None:
                try:
                    device.close()
                except Exception:  # noqa: BLE001 - closing a device must never raise
                    pass
        self.mic = self.player = None

    @property
    def level_dbfs(self) -> float:
        return float(getattr(self.mic, "level_dbfs", float("-inf")))


async def silence_frames(sample_rate: int, seconds: float, *, frame_ms: int = 20) -> AsyncIterator[bytes]:
    """Real-time paced silence (a stand-in microphone for machines without one)."""
    frame = b"\x00\x00" * (sample_rate * frame_ms // 1000)
    for _ in range(int(seconds * 1000 / frame_ms)):
        yield frame
        await asyncio.sleep(frame_ms / 1000)
