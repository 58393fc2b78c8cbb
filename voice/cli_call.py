"""`kconsole call URL`: be Knowlarity's Stream Node from a terminal.

Dials a bot's WebSocket URL, sends the call metadata, then speaks scripted lines
(`--say`, synthesised offline), WAV files (`--wav`), or the microphone (`--mic`),
while printing what happens with timestamps: the greeting, each line said, each
stretch of bot audio, killAudio, transfer, disconnect. At the end it prints the
timings (greeting latency, each turn's time to first audio, barge-in latency) and
the outcome.

Exit status: 0 when the call ended as calls should (the caller hung up after the
script, the bot transferred it, or the bot disconnected it) and the bot answered
every line in audible speech without a protocol error; 1 when it did not (cut for
sending no audio, a line left unanswered, a reply or greeting of pure silence, any
protocol error, a broken connection, an HTTP refusal); 2 for bad input before
dialling (a missing WAV, a bad URL, no sound device for --mic). stdout has the live
log and the timings; every problem is printed once, as one line on stderr (a repeated
protocol error once, with its count), never a traceback. `--json` prints the report
with `"ok"` and `"problems"` on stdout and the same problems on stderr.

When the bot is a kconsole bot, it is asked (in-band, see voice.protocol) for its own
words, and what it said is printed as text ("bot says: ...") without --transcribe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys
import uuid
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from voice.caller import (
    Caller,
    CallerError,
    CallerEvent,
    CallerOptions,
    CallReport,
    Transcriber,
    Turn,
    format_ms,
    read_wav,
    stt_transcriber,
)
from voice.caller.report import OK_OUTCOMES
from voice.config import SUPPORTED_RATES
from voice.line import LineSpec, LineSpecError, parse_line_spec
from voice.protocol import CallMetadata

PROG = "kconsole call"


class _TurnAction(argparse.Action):
    """--say and --wav append to one ordered list, so lines are spoken in the order given."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None
    ) -> None:
        items = list(getattr(namespace, "turns", None) or [])
        items.append(("say" if option_string == "--say" else "wav", str(values)))
        namespace.turns = items


def _line(value: str) -> LineSpec:
    try:
        return parse_line_spec(value)
    except LineSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _rate(value: str) -> int:
    text = value.strip().lower()
    try:
        rate = int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a sample rate: {value!r}") from None
    if rate not in SUPPORTED_RATES:
        raise argparse.ArgumentTypeError(f"sample rate must be one of {', '.join(map(str, SUPPORTED_RATES))}")
    return rate


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return number


def _non_negative(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="the bot's Stream Node URL, ws://host:port/voice or wss://...")
    parser.add_argument("--say", action=_TurnAction, dest="turns", metavar="LINE", help="a line to speak (repeatable; in order)")
    parser.add_argument("--wav", action=_TurnAction, dest="turns", metavar="FILE", help="a WAV file to speak (any rate/channels)")
    parser.add_argument("--line", type=_line, default=None, metavar="SPEC",
                        help="call over a simulated bad phone line, e.g. echo=-20dB@150ms,codec=ulaw,noise=-50dBFS,"
                             "jitter=60ms (keys: echo drift vary codec band noise babble jitter loss seed; "
                             "presets: phone, speakerphone, mobile)")
    parser.add_argument("--mic", action="store_true", help="stream the microphone until Ctrl-C or the bot hangs up")
    parser.add_argument("--play", action="store_true", help="play the bot's audio on the speaker")
    parser.add_argument("--sample-rate", type=_rate, default=16000, metavar="R",
                        help="the stream's rate: 8000/16000/24000/32000/48000 (or 8k...); default 16000")
    parser.add_argument("--rate-in-url", action="store_true", help="also pass the rate as ?sample_rate=R in the URL")
    parser.add_argument("--caller", default="+919800000001", metavar="NUMBER", help="customer_number in the metadata")
    parser.add_argument("--number", default="+918069000000", metavar="NUMBER",
                        help="virtual_number (the SR number dialled) in the metadata")
    parser.add_argument("--callid", default=None, metavar="ID", help="callid in the metadata (random by default)")
    parser.add_argument("--plain-metadata", action="store_true",
                        help="send the metadata as plain JSON, not a JSON string of a Python dict")
    parser.add_argument("--no-audio-timeout", type=_positive, default=5.0, metavar="S",
                        help="cut the call if no playAudio arrives within S seconds (default 5)")
    parser.add_argument("--reply-timeout", type=_positive, default=10.0, metavar="S",
                        help="how long each line waits for the bot to answer (default 10)")
    parser.add_argument("--interrupt-after", type=_non_negative, default=None, metavar="MS",
                        help="speak each line MS ms into the bot's reply (barge-in) instead of after it")
    parser.add_argument("--speed", type=_positive, default=1.0, metavar="X",
                        help="time compression for testing: X times faster than real time (default 1); the bot must run as"
                        " fast (a ScaledClock) or it takes your lines for barge-ins")
    parser.add_argument("--token", default=None, metavar="TOKEN",
                        help="the bot's token (BOT_TOKEN), sent as Authorization: Bearer; never printed")
    parser.add_argument("--no-bot-text", action="store_true", help="do not ask a kconsole bot for its words")
    parser.add_argument("--insecure", action="store_true", help="accept a self-signed certificate on wss://")
    parser.add_argument("--cafile", type=Path, default=None, metavar="PEM", help="trust this CA certificate for wss://")
    parser.add_argument("--transcribe", action="store_true", help="transcribe the bot's audio with the offline recogniser")
    parser.add_argument("--script", type=Path, default=None, metavar="TOML",
                        help="with --transcribe: the bot script whose sentences to expect (default: the receptionist)")
    parser.add_argument("--strict", action="store_true", help="end the call on the first malformed frame from the bot")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of the live log")


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def _build_turns(args: argparse.Namespace) -> list[Turn]:
    turns: list[Turn] = []
    for kind, value in getattr(args, "turns", None) or []:
        if kind == "say":
            if not value.strip():
                raise CallerError("--say needs a non-empty line")
            turns.append(Turn(say=value, interrupt_after_ms=args.interrupt_after))
        else:
            pcm, rate = read_wav(value)
            if not pcm:
                raise CallerError(f"{value}: the WAV file has no audio")
            turns.append(Turn(audio=pcm, audio_rate=rate, label=Path(value).name, interrupt_after_ms=args.interrupt_after))
    return turns


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.cafile is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(args.cafile))
    except (OSError, ssl.SSLError) as exc:
        raise CallerError(f"cannot load CA certificate {args.cafile}: {getattr(exc, 'strerror', None) or exc}") from None


def script_lines(script_path: Path | None = None) -> list[str]:
    """Every sentence a scripted bot may say: greeting, replies, fallbacks, goodbye."""
    from voice.providers.script import load_script  # noqa: PLC0415 - the script and text helpers only with --transcribe

    script = load_script(script_path)
    lines = [script.greeting, script.goodbye, *script.fallback, *script.no_transfer]
    for intent in script.intents:
        lines.extend(intent.replies)
    return list(dict.fromkeys(lines))


def snap_to_script(heard: str, lines: list[str], *, threshold: float = 0.5) -> tuple[str, float] | None:
    """The script line `heard` most likely is, with its word-overlap F1 score, or None.

    The offline recogniser is rough on synthetic speech; naming the script line it
    matches makes a debugging transcript readable while the raw text stays available.
    """
    from voice.providers.text import words  # noqa: PLC0415 - the script and text helpers only with --transcribe

    got = set(words(heard))
    if not got:
        return None
    best: tuple[str, float] | None = None
    for line in lines:
        want = set(words(line.replace("{number}", "")))
        common = len(got & want)
        if not common:
            continue
        precision, recall = common / len(got), common / len(want)
        f1 = 2 * precision * recall / (precision + recall)
        if best is None or f1 > best[1]:
            best = (line, f1)
    return best if best is not None and best[1] >= threshold else None


def _transcriber(out: TextIO, script_path: Path | None = None) -> Transcriber | None:
    """Pocketsphinx on the bot's audio, constrained to (and snapped onto) the script's lines."""
    try:
        from voice.providers.local_stt import PocketsphinxSTT  # noqa: PLC0415 - heavy; only with --transcribe
        from voice.providers.text import number_words  # noqa: PLC0415 - the script and text helpers only with --transcribe

        lines = script_lines(script_path)
        vocabulary = [line.replace("{number}", " ") for line in lines] + number_words()
        recognise = stt_transcriber(PocketsphinxSTT(vocabulary))
    except Exception as exc:  # noqa: BLE001 - report and carry on without transcripts
        print(f"{PROG}: cannot transcribe ({exc}); showing audio durations instead", file=out)
        return None

    async def transcribe(pcm: bytes, sample_rate: int) -> str:
        heard = await recognise(pcm, sample_rate)
        snapped = snap_to_script(heard, lines)
        if snapped is None:
            return heard
        return f'"{snapped[0]}" [script line, {snapped[1]:.0%} word match; heard: {heard}]'

    return transcribe


PROBLEM_KINDS = frozenset({"error", "cut", "protocol_error", "no_reply"})


class _Printer:
    """The live log: one line per event, seconds since the connection opened. Problems are
    not printed here: they are printed once each, on stderr, when the call is over."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: CallerEvent) -> None:
        if event.kind == "greeting":
            text = f"greeting: first audio {format_ms(event.value_ms)} after the metadata"
        elif event.kind == "ended" or event.kind in PROBLEM_KINDS:
            return
        else:
            text = event.text
        print(f"{event.t_ms / 1000:8.3f}s  {text}", file=self.out, flush=True)


def print_summary(report: CallReport, out: TextIO) -> None:
    """The timings table and the outcome."""
    print("", file=out)
    print("timings", file=out)
    print(f"  {'greeting latency':<30} {format_ms(report.greeting_ms):>9}", file=out)
    for turn in report.turns:
        label = f"turn {turn.index + 1}"
        said = turn.text if len(turn.text) <= 40 else turn.text[:37] + "..."
        if turn.barge_in:
            print(f"  {label + ' barge-in -> killAudio':<30} {format_ms(turn.kill_audio_ms):>9}  \"{said}\"", file=out)
        print(f"  {label + ' stopped -> first audio':<30} {format_ms(turn.first_audio_ms):>9}  \"{said}\"", file=out)
    if report.protocol_errors:
        print(f"  {'protocol errors':<30} {len(report.protocol_errors):>9}", file=out)
    if report.speed != 1:
        print(f"  (time compressed x{report.speed:g}: latencies are not real-time figures)", file=out)
    if report.bot_said:
        print("the bot said", file=out)
        for line in report.bot_said:
            print(f'  "{line}"', file=out)
    if report.ok:
        print(f"outcome: {report.describe_outcome()}", file=out)
        return
    n = len(report.problems())
    ended = report.describe_outcome() if report.outcome in OK_OUTCOMES else SHORT_OUTCOMES.get(report.outcome, report.outcome)
    print(f"outcome: {ended} - FAILED ({n} problem{'s' * (n != 1)}, on stderr)", file=out)


SHORT_OUTCOMES = {"no-audio timeout": "cut", "protocol error": "protocol error", "error": "error"}


async def run_call(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """The command itself, as a coroutine (main() runs it)."""
    out = out or sys.stdout
    if args.mic and getattr(args, "turns", None):
        return _fail("--mic cannot be combined with --say or --wav")
    if args.mic and args.speed != 1:
        print(f"{PROG}: --mic runs in real time; --speed is ignored", file=sys.stderr)
    try:
        turns = _build_turns(args)
        ssl_context = _ssl_context(args)
        metadata = CallMetadata(
            callid=args.callid or str(uuid.uuid4()), virtual_number=args.number, customer_number=args.caller
        )
        options = CallerOptions(
            sample_rate=args.sample_rate,
            rate_in_url=args.rate_in_url,
            metadata=metadata,
            python_style_metadata=not args.plain_metadata,
            ssl_context=ssl_context,
            insecure=args.insecure,
            no_audio_timeout=args.no_audio_timeout,
            reply_timeout=args.reply_timeout,
            speed=1.0 if args.mic else args.speed,
            on_event=None if args.json else _Printer(out),
            strict=args.strict,
            token=args.token or None,
            bot_text=not args.no_bot_text,
            line=args.line,
        )
        shown_url = Caller(args.url, options).report.url  # checks the URL before any device is opened
    except CallerError as exc:
        return _fail(str(exc))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "metadata"
        return _fail(f"invalid {field}: {err.get('msg', 'invalid')}")

    player: Any = None
    mic: Any = None
    try:
        from voice import sound  # noqa: PLC0415 - only touches PortAudio when asked

        if args.mic:
            try:
                mic = sound.Microphone(args.sample_rate).start()
            except sound.SoundUnavailable as exc:
                return _fail(f"cannot use the microphone: {exc}")
        if args.play:
            try:
                player = sound.Player(args.sample_rate).start()
            except sound.SoundUnavailable as exc:
                print(f"{PROG}: cannot play the bot's audio: {exc}", file=sys.stderr)
            else:
                if options.speed != 1:
                    print(f"{PROG}: --play runs in real time; --speed is ignored", file=sys.stderr)
                    options = options.replace(speed=1.0)
        transcriber = _transcriber(sys.stderr, args.script) if args.transcribe else None
        caller = Caller(args.url, options.replace(sink=player, transcriber=transcriber))
        if not args.json:
            what = "the microphone (Ctrl-C hangs up)" if args.mic else (
                f"{len(turns)} line(s)" if turns else "no lines: listening to the greeting"
            )
            print(
                f"calling {shown_url} at {args.sample_rate} Hz as {args.caller} "
                f"(callid {metadata.callid}); speaking {what}",
                file=out,
                flush=True,
            )
        loop = asyncio.get_running_loop()
        with _sigint_hangs_up(loop, caller):
            report = await caller.run(turns or None, mic=aiter(mic) if mic is not None else None)
    finally:
        if mic is not None:
            mic.close()
        if player is not None:
            player.close()

    if report.outcome == "error" and not report.turns and report.greeting_ms is None and _is_input_error(report):
        return _fail(report.error or "bad input", 2)  # nothing was dialled: one line, no report
    if args.json:
        print(report.to_json(indent=2), file=out)
    else:
        print_summary(report, out)
    out.flush()
    for problem in report.problems():
        print(f"{PROG}: {problem}", file=sys.stderr)
    return 0 if report.ok else 1


def _is_input_error(report: CallReport) -> bool:
    """The call never dialled because our own input (the TTS, a line) was unusable."""
    return bool(report.error) and str(report.error).startswith(("the offline TTS", "could not synthesise", "the TTS produced"))


@contextlib.contextmanager
def _sigint_hangs_up(loop: asyncio.AbstractEventLoop, caller: Caller) -> Any:
    """Ctrl-C hangs up like a caller putting the phone down (the report still prints)."""
    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, caller.hangup)
        installed = True
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)


def main(args: argparse.Namespace) -> int:
    return asyncio.run(run_call(args))
