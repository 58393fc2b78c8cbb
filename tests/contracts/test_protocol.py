"""The Stream Node wire format: every documented metadata shape, every outgoing event."""

from __future__ import annotations

import base64
import io
import json
import wave

import pytest

from voice import protocol
from voice.protocol import CallMetadata, ProtocolError

GUIDE_DICT = (
    "{'callid': '6ccf0a28-XXXX-XXXX-XXXXX-XXXXXXXXXXX', 'virtual_number': '+91XXXXXXXXXX', "
    "'customer_number': '+91XXXXXXXXXX', 'call_type': 'inbound'}"
)


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(GUIDE_DICT),  # what the guide says arrives: a JSON string of a Python dict
        GUIDE_DICT,  # a bare Python-style dict
        json.dumps({"callid": "6ccf0a28-XXXX-XXXX-XXXXX-XXXXXXXXXXX", "virtual_number": "+91XXXXXXXXXX",
                    "customer_number": "+91XXXXXXXXXX", "call_type": "inbound"}),
        json.dumps(GUIDE_DICT).encode(),
    ],
)
def test_metadata_in_every_documented_shape(raw: str | bytes) -> None:
    meta = protocol.parse_metadata(raw)
    assert meta.callid == "6ccf0a28-XXXX-XXXX-XXXXX-XXXXXXXXXXX"
    assert meta.customer_number == "+91XXXXXXXXXX"
    assert meta.call_type == "inbound"


def test_metadata_keeps_unknown_fields() -> None:
    meta = protocol.parse_metadata(json.dumps({"callid": "a", "extra": 5}))
    assert meta.model_extra == {"extra": 5}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("not a dict", "neither JSON"),
        (json.dumps([1, 2]), "must be an object"),
        (json.dumps({"virtual_number": "+91"}), "callid"),
        (json.dumps({"callid": ""}), "callid"),
        (b"\xff\xfe\x00", "binary"),
        ("x" * (protocol.MAX_METADATA_BYTES + 1), "too large"),
        (json.dumps("__import__('os').system('true')"), "neither JSON"),
    ],
)
def test_bad_metadata_gives_a_clear_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        protocol.parse_metadata(raw)


def test_encode_metadata_round_trips_like_the_real_stream_node() -> None:
    meta = CallMetadata(callid="c1", virtual_number="+911", customer_number="+912")
    frame = protocol.encode_metadata(meta)
    assert isinstance(json.loads(frame), str)  # a JSON string wrapping a Python dict
    assert protocol.parse_metadata(frame) == meta


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 32000, 48000])
def test_play_audio_is_a_mono_16bit_wav_at_the_stream_rate(rate: int) -> None:
    pcm = bytes(range(200)) * 4
    event = json.loads(protocol.play_audio(pcm, rate))
    assert event["type"] == "playAudio" and event["data"]["audioContentType"] == "wav"
    with wave.open(io.BytesIO(base64.b64decode(event["data"]["audioContent"]))) as wf:
        assert (wf.getnchannels(), wf.getsampwidth(), wf.getframerate()) == (1, 2, rate)
        assert wf.readframes(wf.getnframes()) == pcm
    parsed = protocol.parse_bot_event(protocol.play_audio(pcm, rate))
    assert isinstance(parsed, protocol.PlayAudio) and parsed.pcm == pcm and parsed.sample_rate == rate


def test_control_events_match_the_guide() -> None:
    assert json.loads(protocol.KILL_AUDIO) == {"type": "killAudio"}
    assert json.loads(protocol.DISCONNECT) == {"type": "disconnect"}
    assert json.loads(protocol.transfer("+91999")) == {"type": "transfer", "data": {"destination": "+91999"}}
    assert isinstance(protocol.parse_bot_event(protocol.transfer("+91999")), protocol.Transfer)


@pytest.mark.parametrize(
    "frame",
    [b"binary", "nope", "[]", '{"type": "dance"}', '{"type": "transfer", "data": {}}',
     '{"type": "playAudio", "data": {"audioContentType": "mp3", "audioContent": ""}}',
     '{"type": "playAudio", "data": {"audioContentType": "wav", "audioContent": "!!"}}',
     '{"type": "playAudio", "data": {"audioContentType": "wav", "audioContent": "AAAA"}}'],
)
def test_bad_bot_frames_raise_protocol_error(frame: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_bot_event(frame)


def test_odd_pcm_is_refused() -> None:
    with pytest.raises(ProtocolError):
        protocol.pcm_to_wav(b"\x00", 16000)
