"""The Stream Node emulator: call a voice bot the way Knowlarity does, and measure it.

One `Caller` is one phone call (`call`): it dials the bot's WebSocket (`connection`),
sends the metadata, streams the caller's audio in 20 ms frames and plays what the
bot sends back at real time (`playback`). What the caller says is a `Conversation`
of `Turn`s (`script`), rendered by a TTS (`speech`); every call returns a
`CallReport` and emits `CallerEvent`s as it goes (`report`). How a call is placed is
one frozen `CallerOptions` (`options`); bot URLs are checked and redacted in `urls`.

`kconsole call` and the sandbox's Stream Node both place their calls through this
package, so the sandbox's inbound bot calls are exactly what the CLI sends.
"""

from voice.caller.call import Caller, place_call
from voice.caller.connection import MAX_FRAME_BYTES
from voice.caller.errors import CallerError
from voice.caller.options import FRAME_MS, CallerOptions
from voice.caller.playback import MIN_QUIET_WALL_S, SINK_LEAD_S
from voice.caller.report import (
    OK_OUTCOMES,
    BotReply,
    CallerEvent,
    CallReport,
    EventKind,
    Outcome,
    TranscriptLine,
    TurnReport,
    format_ms,
)
from voice.caller.script import Conversation, Turn, read_wav, wav_turn
from voice.caller.speech import (
    AudioSink,
    SpeechSynth,
    Transcriber,
    default_tts,
    render_speech,
    stt_transcriber,
)
from voice.caller.urls import build_url, insecure_ssl_context, redact_url

__all__ = [
    "FRAME_MS",
    "MAX_FRAME_BYTES",
    "MIN_QUIET_WALL_S",
    "OK_OUTCOMES",
    "SINK_LEAD_S",
    "AudioSink",
    "BotReply",
    "CallReport",
    "Caller",
    "CallerError",
    "CallerEvent",
    "CallerOptions",
    "Conversation",
    "EventKind",
    "Outcome",
    "SpeechSynth",
    "Transcriber",
    "TranscriptLine",
    "Turn",
    "TurnReport",
    "build_url",
    "default_tts",
    "format_ms",
    "insecure_ssl_context",
    "place_call",
    "read_wav",
    "redact_url",
    "render_speech",
    "stt_transcriber",
    "wav_turn",
]
