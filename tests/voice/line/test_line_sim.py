"""The phone-line simulator: G.711 bit-exact, the band, the spec parser, echo and jitter."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from voice.line import JitterShaper, LineSpecError, PhoneLine, Playout, parse_line_spec
from voice.line.codec import TelephoneBand, decode, encode, g711_roundtrip

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python 3.13+: the reference is gone, the tables stay checked below
        audioop = None  # type: ignore[assignment]

ALL = np.arange(-32768, 32768, dtype=np.int16)


@pytest.mark.skipif(audioop is None, reason="audioop (the G.711 reference) is not in this Python")
@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_is_bit_exact_with_the_reference(codec: str) -> None:
    lin2, to_lin = (audioop.lin2ulaw, audioop.ulaw2lin) if codec == "ulaw" else (audioop.lin2alaw, audioop.alaw2lin)
    assert np.array_equal(encode(ALL, codec), np.frombuffer(lin2(ALL.tobytes(), 2), dtype=np.uint8))  # type: ignore[arg-type]
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(decode(codes, codec), np.frombuffer(to_lin(codes.tobytes(), 2), dtype=np.int16))  # type: ignore[arg-type]


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_keeps_speech_levels_within_its_quantisation(codec: str) -> None:
    x = (np.sin(np.arange(8000) * 0.3) * 8000).astype(np.int16)
    y = g711_roundtrip(x, codec).astype(np.float64)  # type: ignore[arg-type]
    snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x) ** 2))
    assert 30 < snr < 45  # G.711's ~38 dB


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_telephone_band_passes_speech_and_stops_the_rest(rate: int) -> None:
    def gain(freq: float) -> float:
        band = TelephoneBand(rate, "ulaw")
        x = (np.sin(2 * np.pi * freq * np.arange(rate) / rate) * 10000).astype(np.int16)
        n = rate // 50
        y = np.frombuffer(b"".join(band.process(x[i : i + n].tobytes()) for i in range(0, len(x), n)), dtype=np.int16)
        assert len(y) == len(x)
        return float(np.std(y[rate // 2 :]) / np.std(x[rate // 2 :]))

    assert 0.9 < gain(1000) < 1.1
    assert gain(100) < 0.1
    if rate > 8000:
        assert gain(6000) < 0.05  # nothing above the narrowband limit survives


def test_spec_parses_the_documented_example() -> None:
    spec = parse_line_spec("echo=-20dB@150ms,codec=ulaw,noise=-50dBFS,jitter=60ms")
    assert (spec.echo_loss_db, spec.echo_delay_ms, spec.codec, spec.noise_dbfs, spec.jitter_ms) == (20, 150, "ulaw", -50, 60)
    assert spec.band  # G.711 implies the telephone band
    assert parse_line_spec(spec.describe()) == spec


def test_presets_take_overrides() -> None:
    spec = parse_line_spec("speakerphone,echo=-6dB@250ms,band=off")
    assert spec.echo_delay_ms == 250 and spec.codec == "ulaw" and not spec.band


@pytest.mark.parametrize(("text", "says"), [
    ("", "empty line spec"),
    ("echo=20", "LOSSdB@DELAYms"),
    ("echo=-20dB@2000ms", "1000 ms"),
    ("codec=gsm", "ulaw, alaw or linear"),
    ("noise=loud", "dBFS"),
    ("jitter=60", "ms"),
    ("loss=70%", "between 0 and 50"),
    ("colour=blue", "unknown line key 'colour'"),
    ("carrier", "unknown line preset 'carrier'"),
    ("codec=ulaw,codec=alaw", "given twice"),
    ("codec", "unknown line preset"),
    ("echo=", "expected key=value"),
])
def test_spec_errors_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(LineSpecError, match=says.replace("(", r"\(")):
        parse_line_spec(text)


def _echo_of(spec_text: str, rate: int = 16000) -> tuple[np.ndarray, np.ndarray]:
    line = PhoneLine(parse_line_spec(spec_text), rate)
    n = rate // 50
    rng = np.random.default_rng(3)
    far = (rng.standard_normal(rate * 2) * 3000).astype(np.int16)
    out = b"".join(line.frame(bytes(2 * n), far[i : i + n].tobytes()) for i in range(0, len(far), n))
    return far.astype(np.float64), np.frombuffer(out, dtype=np.int16).astype(np.float64)


@pytest.mark.parametrize(("loss", "delay"), [(6, 20), (20, 150), (40, 300)])
def test_echo_has_the_asked_delay_and_loss(loss: int, delay: int) -> None:
    far, mic = _echo_of(f"echo=-{loss}dB@{delay}ms")
    corr = np.correlate(far[8000 - 6400 : 24000], mic[8000:24000], mode="valid")
    lag = 6400 - int(np.argmax(corr))
    assert abs(lag / 16 - delay) <= 1.0
    level = 10 * np.log10(np.mean(mic[8000:] ** 2) / np.mean(far[8000:] ** 2))
    assert abs(level + loss) < 1.0


def test_echo_delay_wanders_with_drift() -> None:
    line = PhoneLine(parse_line_spec("echo=-20dB@150ms,drift=40ms"), 8000)
    seen = []
    for _ in range(500):
        line.frame(bytes(320), bytes(320))
        seen.append(line.echo_delay_ms)
    assert max(seen) - min(seen) > 20 and 110 <= min(seen) and max(seen) <= 190
    assert len(set(seen)) < 20  # steps, not a glide


def test_playout_plays_back_to_back_and_kill_empties_it() -> None:
    p = Playout()
    p.push(b"\x01\x00" * 100)
    p.push(b"\x02\x00" * 100)
    assert p.pull(150) == b"\x01\x00" * 100 + b"\x02\x00" * 50
    p.kill()
    assert p.pull(10) == bytes(20) and not p.busy()


def test_playout_starts_a_reply_on_the_sample_it_arrived_on_and_kills_from_then() -> None:
    p = Playout()
    assert p.pull(320) == bytes(640)  # idle for the first frame
    p.push(b"\x01\x00" * 100, at=400)  # arrived 80 samples into the next frame
    p.push(b"\x02\x00" * 200, at=420)  # arrived while the first chunk was queued: after it
    assert p.pull(320) == bytes(160) + b"\x01\x00" * 100 + b"\x02\x00" * 140
    assert p.pull(50) == b"\x02\x00" * 50
    p.push(b"\x03\x00" * 100, at=650)  # its sample was already pulled: it plays next, never earlier
    p.kill(at=700)  # killAudio 10 samples into the next pull: what played before it still played
    assert p.pull(50) == b"\x02\x00" * 10 + bytes(80)


def test_jitter_holds_frames_then_bursts_them_in_order() -> None:
    shaper = JitterShaper(100, seed=5)
    due = [(k + 1) * 0.02 for k in range(500)]
    at = [shaper.release_at(t, 0.02) for t in due]
    assert all(b >= a for a, b in itertools.pairwise(at))  # in order
    assert all(r >= d for r, d in zip(at, due, strict=True))  # never early
    assert max(r - d for r, d in zip(at, due, strict=True)) <= 0.1 + 1e-9
    gaps = np.diff(at)
    assert shaper.bursts >= 3 and gaps.max() > 0.05 and (gaps < 1e-9).sum() >= 3  # stalls, then several at once
    assert JitterShaper(0).release_at(1.0, 0.02) == 1.0


def test_loss_replaces_frames_with_silence() -> None:
    line = PhoneLine(parse_line_spec("loss=20%,seed=3"), 8000)
    tone = (np.ones(160) * 1000).astype(np.int16).tobytes()
    out = [line.frame(tone, bytes(320)) for _ in range(500)]
    silent = sum(1 for f in out if f == bytes(320))
    assert line.frames_lost == silent and 60 < silent < 140
