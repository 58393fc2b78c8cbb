"""`SessionOptions`: the timing and wording of a call that BotSettings does not carry."""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.config import BotSettings
from voice.vad import VadConfig


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Timing and wording of a call that BotSettings does not carry (tests shrink them)."""

    stall_timeout_s: float = 5.0
    resume_after_s: float = 2.5
    lead_ms: int = 800
    utterance_gap_s: float = 0.8
    close_grace_s: float = 5.0
    stt_backoff_max_s: float = 5.0
    stt_buffer_s: float = 10.0
    interim_barge_in: bool = True
    echo_cancel: bool = True  # the uplink's echo of the bot's own playback is removed before VAD and STT
    echo_guard: bool = True  # a transcript of what the bot was saying at that moment is echo, not a turn
    apology: str = "Sorry, I had trouble with that. Could you say it again?"
    transfer_line: str = "Transferring you now."
    goodbye_line: str = "Thank you for calling. Goodbye!"
    no_transfer_line: str = "Sorry, I can't transfer calls right now."
    vad: VadConfig = field(default_factory=VadConfig)

    def prompt_lines(self, settings: BotSettings) -> list[str]:
        """Every fixed line a call may speak, so the server can render them ahead."""
        return [settings.greeting, self.apology, self.transfer_line, self.goodbye_line, self.no_transfer_line]
