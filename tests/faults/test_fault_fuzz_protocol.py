"""Fuzzing the Stream Node metadata parser: a CallMetadata or a ProtocolError, nothing else.

The metadata frame is the one piece of text a stranger's socket hands the bot before any
check of ours has run, so every shape — JSON, a JSON string of a Python dict, a bare dict,
bytes, garbage, deep nesting — must end in a parsed value or the documented ProtocolError.
An unhandled exception here would be a traceback in the server's log at best.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voice import protocol
from voice.protocol import CallMetadata, ProtocolError

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["", " ", "None", "$None", "6ccf0a28-XXXX", "+91XXXXXXXXXX", "inbound", "\x00", "'", '"']),
)
values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=12
)
keys = st.one_of(st.sampled_from(["callid", "virtual_number", "customer_number", "call_type"]), st.text(max_size=12))
metadata_dicts = st.dictionaries(keys, values, max_size=6)


def check(raw: str | bytes) -> None:
    try:
        meta = protocol.parse_metadata(raw)
    except ProtocolError as exc:
        assert str(exc), "a ProtocolError must say which rule was broken"
        return
    assert isinstance(meta, CallMetadata)
    assert meta.callid
    repr(meta)  # a parsed value must be printable in a log line


@FUZZ
@given(st.text(max_size=300))
def test_any_text(raw: str) -> None:
    check(raw)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(metadata_dicts, st.sampled_from(["json", "python", "json-of-python", "bytes"]))
def test_dicts_in_every_documented_shape(data: dict, shape: str) -> None:
    if shape == "json":
        try:
            raw: str | bytes = json.dumps(data, allow_nan=True)
        except (ValueError, TypeError):
            return
    elif shape == "python":
        raw = repr(data)
    elif shape == "json-of-python":
        raw = json.dumps(repr(data))
    else:
        raw = repr(data).encode("utf-8", "surrogatepass")
    check(raw)


@FUZZ
@given(st.text(min_size=1, max_size=200).filter(lambda s: s.strip() != ""))
def test_valid_callid_always_parses(callid: str) -> None:
    """Any non-empty call id of a sane length is accepted, in the guide's own shape."""
    raw = json.dumps(repr({"callid": callid, "virtual_number": "+911234", "call_type": "inbound"}))
    meta = protocol.parse_metadata(raw)
    assert meta.callid == callid


def test_pathological_frames() -> None:
    """Shapes a fuzzer rarely reaches by chance: deep nesting, huge numbers, evaluation tricks."""
    frames: list[str | bytes] = [
        "[" * 5000, "{" * 5000, '{"callid": ' + "[" * 3000 + "]" * 3000 + "}",
        json.dumps("(" * 3000 + ")" * 3000), "{'callid': " + "(" * 500 + "1" + ")" * 500 + "}",
        "{'callid': 10**10**10}", "{'callid': 1e999}", json.dumps({"callid": 10**400}),
        "{'callid': {1, 2}}", "{'callid': b'x'}", "{'callid': 'a', **{}}", "{'callid': lambda: 1}",
        "\ufeff{'callid': 'a'}", "  \n\t ", "x" * (protocol.MAX_METADATA_BYTES + 1),
        b"\xff" * 10, "{'callid': 'a'}".encode("utf-16"),
    ]
    for raw in frames:
        check(raw)


# ---- the other frames that arrive from a network peer --------------------------------------

from pydantic import ValidationError  # noqa: E402

from voice.bus import parse_command, parse_monitor_event  # noqa: E402

command_dicts = st.fixed_dictionaries(
    {"command": st.sampled_from(["transfer", "hangup", "say", "listen", "reboot", ""])},
    optional={"call_id": values, "destination": values, "text": values, "on": values, "goodbye": values},
)


@FUZZ
@given(st.one_of(command_dicts.map(lambda d: json.dumps(d, allow_nan=True)), st.text(max_size=200),
                 st.binary(max_size=200)))
def test_monitor_commands_parse_or_raise_validation_error(raw: str | bytes) -> None:
    """A /monitor peer's command frame: a command, or ValidationError (the server answers
    {"ok": false, "error": ...}), never anything that would end the monitor connection."""
    try:
        cmd = parse_command(raw)
    except ValidationError:
        return
    assert cmd.command in ("transfer", "hangup", "say", "listen")


@FUZZ
@given(st.one_of(st.dictionaries(st.sampled_from(["kind", "call_id", "ts", "text", "final", "turn", "state"]), values,
                                 max_size=6).map(lambda d: json.dumps(d, allow_nan=True)),
                 st.text(max_size=200)))
def test_monitor_events_parse_or_raise_validation_error(raw: str) -> None:
    """What the console's MonitorWatcher reads from a bot's /monitor feed."""
    try:
        parse_monitor_event(raw)
    except ValidationError:
        return


@FUZZ
@given(st.one_of(
    st.dictionaries(st.sampled_from(["type", "data"]), values, max_size=2).map(lambda d: json.dumps(d, allow_nan=True)),
    st.builds(lambda b64: json.dumps({"type": "playAudio", "data": {"audioContentType": "wav", "audioContent": b64}}),
              st.one_of(st.text(max_size=80), st.binary(max_size=120).map(lambda b: __import__("base64").b64encode(b).decode()))),
    st.text(max_size=200), st.binary(max_size=50),
))
def test_bot_events_parse_or_raise_protocol_error(raw: str | bytes) -> None:
    """What the Stream Node emulator (and the sandbox's Stream Node) reads from a bot."""
    try:
        protocol.parse_bot_event(raw)
    except ProtocolError as exc:
        assert str(exc)


def _wav(*, fmt: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16, data: bytes = bytes(20),
         data_len: int | None = None) -> bytes:
    import struct

    block = channels * bits // 8
    header = struct.pack("<4sI4s4sIHHIIHH", b"RIFF", 36 + len(data), b"WAVE", b"fmt ", 16, fmt, channels, rate,
                         rate * block, block, bits)
    return header + struct.pack("<4sI", b"data", len(data) if data_len is None else data_len) + data


def test_hostile_wav_headers() -> None:
    """WAVs a fuzzer will not stumble on: odd formats, and rates that would break a resampler
    (0 Hz) or blow a small frame up ten-thousandfold (1 Hz)."""
    import base64

    refused = [_wav(channels=2), _wav(channels=0), _wav(bits=8), _wav(bits=0), _wav(fmt=6), _wav(fmt=0xFFFE),
               _wav(rate=0), _wav(rate=1), _wav(rate=7999), _wav(rate=10**6), _wav()[:30], b"RIFF"]
    for wav in refused:
        raw = json.dumps({"type": "playAudio", "data": {"audioContentType": "wav",
                                                        "audioContent": base64.b64encode(wav).decode()}})
        try:
            protocol.parse_bot_event(raw)
        except ProtocolError:
            continue
        raise AssertionError(f"accepted a WAV it should refuse: {wav[:44]!r}")
    ok = protocol.parse_bot_event(protocol.play_audio(bytes(320), 8000))
    assert ok.sample_rate == 8000 and len(ok.pcm) == 320
