"""`kconsole call`: main() in-process against a fake bot, output and exit codes."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from console.cli import main
from tests.voice.caller.caller_fakes import tone


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["call", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_call_that_ends_in_transfer(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=300, actions=["echo", "transfer:+919999900000"])
    code, out, err = run(capsys, bot.url, "--say", "hello there", "--say", "a person please", "--speed", "5", "--callid", "cli-1")
    assert code == 0, err
    assert "calling ws://127.0.0.1" in out and "callid cli-1" in out
    assert "greeting: first audio" in out
    assert 'you said: "hello there"' in out and 'you said: "a person please"' in out
    assert "bot audio" in out
    assert "transfer -> +919999900000" in out
    assert "timings" in out and "greeting latency" in out
    assert "turn 1 stopped -> first audio" in out and "turn 2 stopped -> first audio" in out
    assert "time compressed x5" in out
    assert out.rstrip().endswith("outcome: transferred to +919999900000")
    assert err == ""
    assert bot.calls[0].metadata.callid == "cli-1"
    # each line starts with a timestamp in seconds
    events = [line for line in out.splitlines() if line.strip().endswith(("+919999900000", '"hello there"'))]
    assert all(line.strip()[0].isdigit() and "s  " in line for line in events[:2])


def test_cut_for_no_audio_exits_1_with_one_line(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(greet=False)
    code, out, err = run(capsys, bot.url, "--say", "hello", "--no-audio-timeout", "0.3")
    assert code == 1
    assert err.strip() == "kconsole call: cut: no playAudio within 0.3 s of connecting"
    assert "outcome: cut" in out


def test_json_report(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=200, actions=["disconnect"])
    code, out, err = run(capsys, bot.url, "--say", "goodbye", "--speed", "5", "--json", "--caller", "+919811122233")
    assert code == 0, err
    report = json.loads(out)
    assert report["outcome"] == "disconnected" and report["ok"] is True
    assert report["greeting_ms"] is not None and report["turns"][0]["text"] == "goodbye"
    assert bot.calls[0].metadata.customer_number == "+919811122233"


def test_barge_in_prints_kill_audio(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=3000, actions=["transfer:+911"])
    code, out, err = run(capsys, bot.url, "--say", "wait", "--interrupt-after", "300", "--speed", "5")
    assert code == 0, err
    assert 'you interrupt: "wait"' in out
    assert "killAudio" in out and "barge-in" in out
    assert "turn 1 barge-in -> killAudio" in out


def test_sample_rate_and_plain_metadata(threaded_bot, tone_voice, capsys) -> None:
    bot = threaded_bot(speed=5, greeting_ms=200, actions=["disconnect"])
    code, out, err = run(capsys, bot.url, "--say", "hi", "--sample-rate", "8k", "--rate-in-url", "--plain-metadata", "--speed", "5")
    assert code == 0, err
    assert set(bot.calls[0].frame_sizes) == {320}
    assert isinstance(json.loads(bot.calls[0].metadata_raw), dict)
    assert "at 8000 Hz" in out


def test_wav_lines(threaded_bot, capsys, tmp_path: Path) -> None:
    path = tmp_path / "line.wav"
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(22050)
        wf.writeframes(tone(22050, 400))
    bot = threaded_bot(speed=5, greeting_ms=200, actions=["transfer:+912"])
    code, out, err = run(capsys, bot.url, "--wav", str(path), "--speed", "5")
    assert code == 0, err
    assert 'you said: "[line.wav 0.4 s]"' in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--wav", "/nonexistent/x.wav"], "WAV file not found"),
        (["--say", "   "], "--say needs a non-empty line"),
        (["--mic", "--say", "hi"], "--mic cannot be combined"),
        (["--cafile", "/nonexistent/ca.pem"], "cannot load CA certificate"),
        (["--callid", "x" * 300], "callid"),
    ],
)
def test_bad_input_exits_2(capsys, tone_voice, argv: list[str], message: str) -> None:
    code, _out, err = run(capsys, "ws://127.0.0.1:9/voice", *argv)
    assert code == 2
    assert err.startswith("kconsole call: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_url_exits_2(capsys, tone_voice) -> None:
    code, _, err = run(capsys, "http://127.0.0.1:9/voice")
    assert code == 2 and "ws:// or wss://" in err


def test_bad_rate_is_an_argparse_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["call", "ws://127.0.0.1:9/voice", "--sample-rate", "11025"])
    assert exc.value.code == 2
    assert "sample rate must be one of" in capsys.readouterr().err


def test_connection_refused_exits_1(capsys, tone_voice, unused_tcp_port: int) -> None:
    code, _, err = run(capsys, f"ws://127.0.0.1:{unused_tcp_port}/voice", "--say", "hi")
    assert code == 1
    assert "cannot connect to ws://127.0.0.1" in err and "refused" in err


def test_mic_without_portaudio_says_how_to_install(capsys, no_portaudio) -> None:
    code, _, err = run(capsys, "ws://127.0.0.1:9/voice", "--mic")
    assert code == 2
    assert "cannot use the microphone" in err and "libportaudio2" in err and "brew install portaudio" in err
    assert "Traceback" not in err


def test_play_without_portaudio_says_so_and_carries_on(threaded_bot, tone_voice, capsys, no_portaudio) -> None:
    bot = threaded_bot(speed=5, greeting_ms=200, actions=["disconnect"])
    code, out, err = run(capsys, bot.url, "--say", "bye", "--play", "--speed", "5")
    assert code == 0
    assert "cannot play the bot's audio" in err and "libportaudio2" in err
    assert "disconnected by the bot" in out


def test_play_sends_the_bot_audio_to_the_speaker(threaded_bot, tone_voice, capsys, monkeypatch) -> None:
    import sys

    from tests.voice.caller.caller_fakes import FakeSoundDevice

    sd = FakeSoundDevice(rates={16000})
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    played: list[bytes] = []
    bot = threaded_bot(speed=1, greeting_ms=300, actions=["disconnect"])
    import voice.sound

    original = voice.sound.Player.write
    monkeypatch.setattr(voice.sound.Player, "write", lambda self, pcm: (played.append(pcm), original(self, pcm))[-1])
    code, out, err = run(capsys, bot.url, "--say", "bye", "--play", "--speed", "4")
    assert code == 0, err
    assert "--play runs in real time" in err
    stream = sd.streams[0]
    assert stream.kind == "output" and stream.closed
    assert sum(len(p) for p in played) >= 2 * 16000 * 300 // 1000  # at least the greeting reached the speaker
    assert "time compressed" not in out


def test_transcripts_snap_to_the_script_line() -> None:
    from voice.cli_call import script_lines, snap_to_script

    lines = script_lines()
    assert "Of course. Let me put you through to a colleague." in lines
    line, score = snap_to_script("our put you through to a colleague", lines)
    assert line == "Of course. Let me put you through to a colleague." and 0.6 < score < 1
    assert snap_to_script("zebra xylophone", lines) is None
    assert snap_to_script("", lines) is None


def test_ctrl_c_hangs_up_a_microphone_call(threaded_bot, capsys, monkeypatch) -> None:
    import os
    import signal
    import sys
    import threading
    import time

    from tests.voice.caller.caller_fakes import FakeSoundDevice

    sd = FakeSoundDevice(rates={16000})
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    bot = threaded_bot(speed=1, greeting_ms=200)

    def interrupt_once_connected() -> None:
        deadline = time.monotonic() + 10
        while not bot.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_connected, daemon=True).start()
    code, out, err = run(capsys, bot.url, "--mic")
    assert code == 0, err
    assert "speaking the microphone (Ctrl-C hangs up)" in out
    assert "the caller hung up" in out and "outcome: completed" in out
    assert sd.streams[0].kind == "input" and sd.streams[0].closed


def test_a_refused_handshake_is_one_line_and_hides_the_token(capsys) -> None:
    import asyncio
    import http
    import threading

    from websockets.asyncio.server import serve

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, object] = {}

    async def start() -> None:
        def refuse(connection, request):
            return connection.respond(http.HTTPStatus.FORBIDDEN, "bad token\n")

        async def handler(ws) -> None:  # never reached
            await ws.close()

        box["server"] = await serve(handler, "127.0.0.1", 0, process_request=refuse)
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    ready.wait(10)
    port = next(iter(box["server"].sockets)).getsockname()[1]  # type: ignore[attr-defined]
    try:
        code, out, err = run(capsys, f"ws://127.0.0.1:{port}/voice?token=supersecret123", "--no-audio-timeout", "1")
    finally:
        async def stop() -> None:
            box["server"].close()  # type: ignore[attr-defined]
            await box["server"].wait_closed()  # type: ignore[attr-defined]

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    assert code == 1
    assert "HTTP 403" in err and len(err.strip().splitlines()) == 1
    assert "supersecret123" not in out + err
    assert "token=***" in out + err
