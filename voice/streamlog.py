"""Per-stream summary lines, as the voice guide's log reference lists them.

Every stream a call opens ends with one summary line under its component, so a support
engineer reading one call's log sees, without debug logging, how much went each way:

- KNOWLARITY: audio packets received (and how much audio), playAudio chunks sent (and their
  base64 size), killAudio, transfer / disconnect sent, and why the stream ended;
- the STT (DEEPGRAM, ...), LLM (OPENAI, ...) and TTS (CARTESIA, ...) streams log theirs
  where they end (see the providers and the session).

`StreamTally` counts the Stream Node side without looking inside the session: it sees
the frames as the server receives and sends them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StreamTally:
    sample_rate: int
    packets_in: int = 0
    bytes_in: int = 0
    chunks_out: int = 0
    b64_chars_out: int = 0
    kills_out: int = 0
    controls_out: int = 0  # transfer, disconnect

    def received(self, frame: bytes) -> None:
        self.packets_in += 1
        self.bytes_in += len(frame)

    def sent(self, text: str) -> None:
        head = text[:40]
        if '"kconsole.' in head:
            return  # kconsole's own extension, not the Stream Node's
        if '"playAudio"' in head:
            self.chunks_out += 1
            self.b64_chars_out += len(text)
        elif '"killAudio"' in head:
            self.kills_out += 1
        else:
            self.controls_out += 1

    def summary(self, reason: str) -> str:
        audio_s = self.bytes_in / 2 / self.sample_rate if self.sample_rate else 0.0
        return (f"Stream summary | audio packets received={self.packets_in} ({audio_s:.1f} s) | "
                f"playAudio chunks sent={self.chunks_out} (b64 {self.b64_chars_out} chars) | "
                f"killAudio={self.kills_out} | ended: {reason}")
