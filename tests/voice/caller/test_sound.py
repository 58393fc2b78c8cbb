"""voice.sound: the clear message without PortAudio, and the logic against a fake device."""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

import numpy as np
import pytest

from tests.voice.caller.caller_fakes import FakeSoundDevice, constant, tone
from voice import sound
from voice.sound import Microphone, Player, SoundUnavailable


def test_missing_portaudio_is_a_clear_message(no_portaudio) -> None:
    with pytest.raises(SoundUnavailable) as exc:
        Player(16000).start()
    message = str(exc.value)
    assert "PortAudio library not found" in message
    assert "sudo apt-get install libportaudio2" in message and "brew install portaudio" in message
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


async def test_missing_portaudio_for_the_microphone(no_portaudio) -> None:
    with pytest.raises(SoundUnavailable, match="libportaudio2"):
        Microphone(16000).start()


def test_missing_sounddevice_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    with pytest.raises(SoundUnavailable, match="'sounddevice' package is not installed"):
        sound.load_sounddevice()


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch):
    def install(**kw: Any) -> FakeSoundDevice:
        sd = FakeSoundDevice(**kw)
        monkeypatch.setitem(sys.modules, "sounddevice", sd)
        return sd

    return install


def test_player_plays_in_order_pads_silence_and_meters(fake_sd) -> None:
    sd = fake_sd(rates={16000})
    with Player(16000) as player:
        stream = sd.streams[0]
        assert stream.started and stream.kw["channels"] == 1 and stream.kw["dtype"] == "int16"
        a, b = constant(16000, 20, 1000), constant(16000, 20, -2000)
        player.write(a)
        player.write(b)
        assert player.buffered_ms == pytest.approx(40)
        assert stream.pull(320) == a
        assert player.level_dbfs == pytest.approx(20 * math.log10(1000 / 32768), abs=0.1)
        half = stream.pull(480)
        assert half == b + bytes(320)  # short buffer: silence after, never garbage
        assert player.underruns == 1
        assert stream.pull(320) == bytes(640) and player.level_dbfs == -math.inf
    assert stream.closed


def test_player_clear_drops_everything_queued(fake_sd) -> None:
    sd = fake_sd(rates={16000})
    player = Player(16000).start()
    player.write(tone(16000, 500))
    player.clear()
    assert player.buffered_ms == 0
    assert sd.streams[0].pull(320) == bytes(640)
    player.close()


def test_player_keeps_only_the_latest_audio(fake_sd) -> None:
    fake_sd(rates={8000})
    player = Player(8000, max_buffer_ms=100).start()
    player.write(constant(8000, 300, 7))
    assert player.buffered_ms == pytest.approx(100)
    player.close()


def test_player_resamples_when_the_device_refuses_the_rate(fake_sd) -> None:
    sd = fake_sd(rates={48000}, default_rate=48000)
    player = Player(16000).start()
    assert player.device_rate == 48000 and sd.streams[-1].samplerate == 48000
    player.write(tone(16000, 100))
    assert player.buffered_ms == pytest.approx(100, abs=10)
    player.close()


def test_no_output_device(fake_sd) -> None:
    fake_sd(rates={16000}, has_output=False)
    with pytest.raises(SoundUnavailable, match=r"no audio output \(speaker\) device available"):
        Player(16000).start()


async def test_no_input_device(fake_sd) -> None:
    fake_sd(rates={16000}, has_input=False)
    with pytest.raises(SoundUnavailable, match=r"no audio input \(microphone\) device available"):
        Microphone(16000).start()


async def test_microphone_yields_20_ms_frames(fake_sd) -> None:
    sd = fake_sd(rates={16000})
    mic = Microphone(16000).start()
    stream = sd.streams[0]
    captured = tone(16000, 100)
    # PortAudio delivers odd-sized blocks from its own thread
    for off in range(0, len(captured), 700):
        block = captured[off : off + 700]
        await asyncio.to_thread(stream.callback, block, len(block) // 2, None, None)
    await asyncio.sleep(0.01)
    frames = []
    async def read() -> None:
        async for frame in mic:
            frames.append(frame)
    reader = asyncio.create_task(read())
    await asyncio.sleep(0.01)
    mic.close()
    await asyncio.wait_for(reader, 2)
    assert [len(f) for f in frames] == [640] * 5
    assert b"".join(frames) == captured
    assert mic.level_dbfs > -20
    assert stream.closed


async def test_microphone_resamples_from_the_device_rate(fake_sd) -> None:
    sd = fake_sd(rates={44100}, default_rate=44100)
    mic = Microphone(8000).start()
    assert mic.device_rate == 44100
    block = tone(44100, 200)
    await asyncio.to_thread(sd.streams[-1].callback, block, len(block) // 2, None, None)
    await asyncio.sleep(0.01)
    mic.close()
    frames = [f async for f in mic]
    assert frames and all(len(f) == 320 for f in frames)
    assert 5 <= len(frames) <= 10  # 200 ms less the resampler's look-ahead
    samples = np.frombuffer(b"".join(frames), dtype="<i2")
    assert np.abs(samples).max() > 4000  # the tone survived the resampling
