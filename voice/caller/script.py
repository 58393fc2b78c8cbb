"""What the caller says: a `Conversation` of `Turn`s, text or WAV audio.

A turn is spoken once the bot's previous reply has been heard to the end (the
playback queue drained, then a short quiet gap), or, for a barge-in, a given number
of milliseconds into the bot's reply.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from voice.audio import duration_ms
from voice.caller.errors import CallerError
from voice.caller.report import Outcome


@dataclass(frozen=True, slots=True)
class Turn:
    """One thing the caller says, and how it takes its turn.

    `say` is text for the TTS; `audio` is PCM (mono int16 at `audio_rate`) such as a
    WAV file's samples, shown in the transcript as `label`. By default the line is
    spoken after the bot's previous reply has been heard to the end; with
    `interrupt_after_ms` it is spoken that many milliseconds into the bot's reply
    instead (a barge-in). `wait` says what follows the line when nothing interrupts:
    "reply" waits for the bot's reply to be heard; a number waits that many seconds.
    """

    say: str | None = None
    audio: bytes | None = None
    audio_rate: int = 16000
    label: str | None = None
    wait: Literal["reply"] | float = "reply"
    interrupt_after_ms: float | None = None

    def __post_init__(self) -> None:
        if (self.say is None) == (self.audio is None):
            raise CallerError("a turn needs exactly one of 'say' (text) or 'audio' (PCM)")
        if self.say is not None and not self.say.strip():
            raise CallerError("a turn's text is empty")
        if self.interrupt_after_ms is not None and self.interrupt_after_ms < 0:
            raise CallerError("interrupt_after_ms must be >= 0")
        if self.wait != "reply" and (not isinstance(self.wait, (int, float)) or self.wait < 0):
            raise CallerError("a turn's wait must be 'reply' or seconds >= 0")

    @property
    def text(self) -> str:
        """How the transcript shows this line."""
        if self.say is not None:
            return self.say
        secs = duration_ms(len(self.audio or b""), self.audio_rate) / 1000
        return f"[{self.label or 'audio'} {secs:.1f} s]"


@dataclass(frozen=True, slots=True)
class Conversation:
    """A scripted caller: a name, the turns, and what a good bot should end with."""

    name: str
    turns: tuple[Turn, ...]
    description: str = ""
    expect: Outcome | None = None  # the outcome this caller leads to with the default bot script


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """A WAV file as (mono int16 PCM, its rate): any channel count, 8/16/24/32-bit PCM.

    Channels are averaged. Anything `wave` cannot read (float or compressed WAV, not a
    WAV at all) is a CallerError naming the file.
    """
    p = Path(path)
    try:
        with wave.open(str(p), "rb") as wf:
            channels, width, rate = wf.getnchannels(), wf.getsampwidth(), wf.getframerate()
            raw = wf.readframes(wf.getnframes())
    except FileNotFoundError:
        raise CallerError(f"WAV file not found: {p}") from None
    except (wave.Error, EOFError) as exc:
        raise CallerError(f"cannot read {p} as a PCM WAV file: {exc}") from None
    except OSError as exc:
        raise CallerError(f"cannot read {p}: {exc.strerror or exc}") from None
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.int32)
    elif width == 3:
        b = np.frombuffer(raw[: len(raw) - len(raw) % 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        samples = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8) >> 16  # sign-extend, keep the top 16 bits
    elif width == 4:
        samples = np.frombuffer(raw, dtype="<i4").astype(np.int64) >> 16
    else:
        raise CallerError(f"{p}: {8 * width}-bit samples are not supported")
    if channels > 1:
        usable = len(samples) - len(samples) % channels
        samples = samples[:usable].reshape(-1, channels).mean(axis=1)
    if rate <= 0:
        raise CallerError(f"{p}: invalid sample rate {rate}")
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes(), rate


def wav_turn(path: str | Path, **kwargs: Any) -> Turn:
    """A turn that plays a WAV file (resampled to the stream's rate when the call starts)."""
    pcm, rate = read_wav(path)
    return Turn(audio=pcm, audio_rate=rate, label=Path(path).name, **kwargs)
