"""`CallerOptions`: everything that decides how one emulated Stream Node call is placed.

One frozen value instead of a list of keyword arguments repeated by every layer that
places calls (`Caller`, `kconsole call`, the sandbox's Stream Node): each builds or
adjusts a `CallerOptions` (`dataclasses.replace`), and the checks live here, once.

Time compression (`speed`): tests and the demo can run a call faster than real time.
`speed=4` sends the caller's frames four times as fast (a 20 ms frame every 5 ms)
and plays the bot's audio four times as fast; the quiet gap shrinks with it (never
below 150 ms of wall time). The bot's own processing is not compressed, so the
waits that judge the bot — `no_audio_timeout`, `reply_timeout` — and every reported
latency are in wall-clock time. A bot keeps its own playback clock (what the caller
has heard so far): at real time it thinks it is still speaking when a compressed
caller answers, and takes the answer for a barge-in. So compress the bot too (the
BotServer's `clock=ScaledClock(speed)`) and pass `bot_speed=speed`. Whatever the
bot's clock, the caller never hangs up before it says the last reply has been
played (plus `hangup_grace`), so a transfer or disconnect sent at the end of a reply
is never missed. Latency figures are only comparable with production at `speed=1`.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voice.audio import chunk_bytes
from voice.caller.errors import CallerError
from voice.caller.urls import insecure_ssl_context
from voice.config import SUPPORTED_RATES
from voice.line import LineSpec
from voice.protocol import CallMetadata

if TYPE_CHECKING:
    from voice.caller.report import CallerEvent
    from voice.caller.speech import AudioSink, SpeechSynth, Transcriber

FRAME_MS = 20  # the Stream Node's frame: the caller sends 20 ms of audio per binary message


@dataclass(frozen=True, slots=True)
class CallerOptions:
    """How a call is placed; every field has a working default.

    sample_rate       the stream's rate (8k/16k/24k/32k/48k); frames are 20 ms of it.
    rate_in_url       add `?sample_rate=R` to the URL (bots that take the rate per connection).
    metadata          the call's CallMetadata (a random callid and demo numbers by default).
    python_style_metadata  send the metadata as Knowlarity does (True) or as plain JSON.
    ssl_context / insecure  TLS trust for wss:// (insecure accepts self-signed certificates).
    no_audio_timeout  seconds (wall) to the first playAudio before the call is cut.
    reply_timeout     seconds (wall) a turn waits for the bot to start a reply.
    quiet_gap_ms      call-time silence after the playback queue drains that ends a reply.
    hangup_grace      seconds (wall) to linger after the last reply for a transfer/disconnect.
    speed             time compression (see the module docstring); 1.0 is real time.
    bot_speed         how fast the bot's own playback clock runs: 1.0 for any real bot; a
                      test bot compressed like the caller says so, and the caller need not
                      linger for a real-time clock before hanging up.
    open_timeout      seconds (wall) to open the WebSocket.
    tts               renders `Turn.say` (default: the offline eSpeak TTS).
    sink              hears the bot's audio as it plays (a voice.sound.Player for --play).
    transcriber       turns each bot reply into text (e.g. stt_transcriber(PocketsphinxSTT())).
    on_event          called with every CallerEvent (live printing).
    strict            end the call on the first protocol error instead of going on.
    token             the bot's token, sent as `Authorization: Bearer` (never in the URL, never printed).
    bot_text          ask the bot for its own words (`{"type": "kconsole.transcript"}` after the
                      metadata); a kconsole bot then sends its sentences in-band, any other
                      bot ignores the frame as it ignores every text frame after the metadata.
                      Off by default (Knowlarity never sends it); `kconsole call` turns it on.
    line              a simulated bad phone line between the caller and the bot (a
                      voice.line.LineSpec: echo of the bot's audio, G.711, noise, jitter...).
    """

    sample_rate: int = 16000
    rate_in_url: bool = False
    metadata: CallMetadata | None = None
    python_style_metadata: bool = True
    ssl_context: ssl.SSLContext | None = None
    insecure: bool = False
    no_audio_timeout: float = 5.0
    reply_timeout: float = 10.0
    quiet_gap_ms: float = 700.0
    hangup_grace: float = 1.0
    speed: float = 1.0
    bot_speed: float = 1.0
    open_timeout: float = 10.0
    tts: SpeechSynth | None = None
    sink: AudioSink | None = None
    transcriber: Transcriber | None = None
    on_event: Callable[[CallerEvent], None] | None = None
    strict: bool = False
    token: str | None = None
    bot_text: bool = False
    line: LineSpec | None = None

    def __post_init__(self) -> None:
        if self.sample_rate not in SUPPORTED_RATES:
            rates = ", ".join(map(str, SUPPORTED_RATES))
            raise CallerError(f"sample rate must be one of {rates}, got {self.sample_rate}")
        if not 0.05 <= self.speed <= 100:
            raise CallerError(f"speed must be between 0.05 and 100, got {self.speed}")
        if not 0.05 <= self.bot_speed <= 100:
            raise CallerError(f"bot_speed must be between 0.05 and 100, got {self.bot_speed}")
        if self.no_audio_timeout <= 0:
            raise CallerError("no_audio_timeout must be > 0 seconds")

    def replace(self, **changes: Any) -> CallerOptions:
        """A copy with `changes` (field names as keywords), checked again."""
        return dataclasses.replace(self, **changes)

    @property
    def frame_bytes(self) -> int:
        """Bytes in one 20 ms frame at the stream's rate."""
        return chunk_bytes(self.sample_rate, FRAME_MS)

    def tls_context(self, url: str) -> ssl.SSLContext | None:
        """The TLS trust for `url`: the given context, an accept-anything one with
        `insecure`, or None (the system's trust, or no TLS for ws://)."""
        if not url.startswith("wss://"):
            return None
        if self.ssl_context is not None:
            return self.ssl_context
        if self.insecure:
            return insecure_ssl_context()
        return None
