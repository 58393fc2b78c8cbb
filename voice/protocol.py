"""The Stream Node wire format, both directions, and nothing else.

Knowlarity's Stream Node opens one WebSocket per call. Its first frame is text: call
metadata, which the guide says arrives as JSON, or as a JSON string wrapping a
Python-style single-quoted dict (parse with json.loads, then ast.literal_eval).
Every later frame is binary: mono pcm_s16le at the stream's rate.

The bot answers with JSON text frames: playAudio (a base64 WAV, mono, 16-bit, the
stream's rate), killAudio, transfer and disconnect. The sandbox's Stream Node and
`kconsole call` use this same module, so both ends agree by construction.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import re
import struct
import wave
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_METADATA_BYTES = 16 * 1024
MIN_WAV_RATE, MAX_WAV_RATE = 8000, 48000  # a playAudio at any other rate is not telephone audio


class ProtocolError(ValueError):
    """A frame that breaks the Stream Node protocol; the message says which rule."""


class CallMetadata(BaseModel):
    """The first frame of every call. Unknown extra fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow")

    callid: str = Field(min_length=1, max_length=200)
    virtual_number: str = ""
    customer_number: str = ""
    call_type: str = "inbound"


def parse_metadata(raw: str | bytes) -> CallMetadata:
    """Parse the metadata frame in any of the documented shapes.

    Accepts a JSON object, a JSON string whose content is a Python-style dict, or a
    bare Python-style dict. Raises ProtocolError with a clear reason otherwise.
    """
    if isinstance(raw, bytes):
        if len(raw) > MAX_METADATA_BYTES:
            raise ProtocolError(f"metadata frame too large ({len(raw)} bytes)")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("metadata frame is binary, expected text") from None
    if len(raw) > MAX_METADATA_BYTES:
        raise ProtocolError(f"metadata frame too large ({len(raw)} characters)")
    text = raw.strip()
    if not text:
        raise ProtocolError("metadata frame is empty")
    value: Any
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        value = text  # maybe a bare Python-style dict
    except ValueError:  # int() refuses numbers of more than sys.get_int_max_str_digits() digits
        raise ProtocolError("metadata holds a number too long to read") from None
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError) as exc:  # both say "digits" for a number over the int limit
            too_long = "digits" in str(exc)
            raise ProtocolError("metadata holds a number too long to read" if too_long
                                else "metadata is neither JSON nor a Python-style dict") from None
        except (MemoryError, RecursionError, TypeError, OverflowError):
            raise ProtocolError("metadata is neither JSON nor a Python-style dict") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"metadata must be an object, got {type(value).__name__}")
    try:
        return CallMetadata.model_validate({str(k): v for k, v in value.items()})
    except ValueError as exc:  # a huge int key cannot even become a str
        if not isinstance(exc, ValidationError):
            raise ProtocolError("metadata holds a key that is not a name") from None
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "metadata"
        raise ProtocolError(f"metadata field {field!r}: {first.get('msg', 'invalid')}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "metadata"
        raise ProtocolError(f"metadata field {field!r}: {first.get('msg', 'invalid')}") from None


def encode_metadata(meta: CallMetadata, *, python_style: bool = True) -> str:
    """The metadata frame as the real Stream Node sends it (a JSON string of a Python dict)."""
    data = meta.model_dump()
    return json.dumps(repr(data)) if python_style else json.dumps(data)


# ---- PCM / WAV ---------------------------------------------------------------------------


def pcm_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap mono pcm_s16le in a 44-byte WAV header (what playAudio requires)."""
    if len(pcm) % 2:
        raise ProtocolError("PCM must be whole 16-bit samples")
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1,
        sample_rate, sample_rate * 2, 2, 16, b"data", len(pcm),
    )
    return header + pcm


def wav_to_pcm(wav_bytes: bytes) -> tuple[bytes, int]:
    """Unwrap a playAudio WAV into (pcm, sample_rate); mono 16-bit only, as the protocol says."""
    try:
        with wave.open(io.BytesIO(wav_bytes)) as wf:
            if wf.getnchannels() != 1 or wf.getsampwidth() != 2:
                raise ProtocolError(
                    f"WAV must be mono 16-bit, got {wf.getnchannels()} channels, {8 * wf.getsampwidth()} bits"
                )
            rate = wf.getframerate()
            if not MIN_WAV_RATE <= rate <= MAX_WAV_RATE:  # 0 Hz breaks a resampler; 1 Hz would blow up 10,000x
                raise ProtocolError(f"WAV sample rate {rate} Hz is outside {MIN_WAV_RATE}-{MAX_WAV_RATE} Hz")
            return wf.readframes(wf.getnframes()), rate
    except (wave.Error, EOFError) as exc:
        raise ProtocolError(f"not a WAV file: {exc}") from None


# ---- outgoing events (bot -> Stream Node) ------------------------------------------------


def play_audio(pcm: bytes, sample_rate: int) -> str:
    """A playAudio event carrying `pcm` as a base64 WAV."""
    content = base64.b64encode(pcm_to_wav(pcm, sample_rate)).decode("ascii")
    return json.dumps({"type": "playAudio", "data": {"audioContentType": "wav", "audioContent": content}})


KILL_AUDIO = json.dumps({"type": "killAudio"})
DISCONNECT = json.dumps({"type": "disconnect"})


def transfer(destination: str) -> str:
    return json.dumps({"type": "transfer", "data": {"destination": destination}})


_PHONE = re.compile(r"^\+?[0-9]{3,15}$")


def transfer_destination(text: str) -> str | None:
    """`text` as a transfer destination (a phone number, spaces, dots, dashes and
    brackets dropped), or None if it is not one."""
    clean = re.sub(r"[\s().-]", "", text)
    return clean if _PHONE.match(clean) else None


class PlayAudio(BaseModel):
    type: Literal["playAudio"]
    pcm: bytes
    sample_rate: int


class KillAudio(BaseModel):
    type: Literal["killAudio"]


class Transfer(BaseModel):
    type: Literal["transfer"]
    destination: str


class Disconnect(BaseModel):
    type: Literal["disconnect"]


BotEvent = PlayAudio | KillAudio | Transfer | Disconnect


def parse_bot_event(raw: str | bytes) -> BotEvent:
    """Parse a frame the bot sent (used by the Stream Node emulator). ProtocolError if invalid."""
    if isinstance(raw, bytes):
        raise ProtocolError("bot sent a binary frame; the protocol allows only JSON text")
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError:
        raise ProtocolError("bot sent a frame that is not JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bot event must be a JSON object")
    kind = obj.get("type")
    raw_data = obj.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    if kind == "playAudio":
        if data.get("audioContentType") != "wav":
            raise ProtocolError("playAudio audioContentType must be 'wav'")
        try:
            wav_bytes = base64.b64decode(data.get("audioContent", ""), validate=True)
        except (ValueError, TypeError):
            raise ProtocolError("playAudio audioContent is not base64") from None
        pcm, rate = wav_to_pcm(wav_bytes)
        return PlayAudio(type="playAudio", pcm=pcm, sample_rate=rate)
    if kind == "killAudio":
        return KillAudio(type="killAudio")
    if kind == "transfer":
        dest = data.get("destination")
        if not isinstance(dest, str) or not dest:
            raise ProtocolError("transfer needs data.destination")
        return Transfer(type="transfer", destination=dest)
    if kind == "disconnect":
        return Disconnect(type="disconnect")
    raise ProtocolError(f"unknown bot event type {kind!r}")


# ---- kconsole's own extension: the bot's words, in-band, for `kconsole call` ----------------
#
# Knowlarity sends nothing but audio after the metadata, and the guide's servers ignore
# text frames. `kconsole call` sends one `{"type": "kconsole.transcript"}` after the
# metadata; a kconsole bot answers by sending that call's own bot sentences and final
# caller transcripts as `{"type": "kconsole.event", "data": <voice.bus event>}` text
# frames, so a developer reads what the bot said without a recogniser. Only the call's
# own connection gets them (it already hears that audio); any other bot ignores the ask.

KCONSOLE_TRANSCRIPT_REQUEST = json.dumps({"type": "kconsole.transcript"})
KCONSOLE_EVENT_PREFIX = '{"type": "kconsole.event"'


def kconsole_event(event: BaseModel) -> str:
    return json.dumps({"type": "kconsole.event", "data": event.model_dump(mode="json")})
