"""`kconsole replay DIR`: recorded calls in the console's Bot view, as they happened.

DIR is one recording folder (caller.wav, bot.wav, events.jsonl, as `kconsole bot
--record-dir` writes them) or a folder of many. The console opens on its Bot view fed
by a replay source instead of the live bus: the transcript appears at its recorded
times, barge-ins flash and cut sentences show what the caller heard, the turn table
fills in, and a timeline strip shows both sides' levels, the cut points and the
position. Keys: space play/pause, `.`/`,` step to the next/previous event, `]`/`[`
±5 s, `0` restart, `:` jump to a time, `+`/`-` speed (1x-10x), `a` audio (mixed,
caller, bot, off; at 1x, through PortAudio when there is a sound device).

`--report` prints a per-call summary and a per-turn table instead (no terminal UI
needed), `--json` the same as JSON. A recording that is incomplete replays what it
holds; what is missing is said, in the view and in the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kcommon.errors import ConfigError
from voice.replay.cursor import AUDIO_SIDES
from voice.replay.load import Recording, find_recordings, load_recording


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR", help="a recording folder, or a folder of recordings")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--report", action="store_true", help="print a per-call summary and per-turn table (no UI)")
    out.add_argument("--json", action="store_true", help="print the same as JSON (no UI)")
    parser.add_argument("--audio", choices=AUDIO_SIDES, default="mixed",
                        help="what the speaker plays at 1x: both sides mixed (default), one side, or off")
    parser.add_argument("--speed", type=float, default=1.0, metavar="X", help="start at this speed, 1-10 (default 1)")
    parser.add_argument("--paused", action="store_true", help="open paused at the start instead of playing")


def load_all(path: Path) -> list[Recording]:
    try:
        folders = find_recordings(path)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise ConfigError(f"replay: {exc}") from None
    except PermissionError as exc:
        raise ConfigError(f"replay: cannot read {path}: {exc.strerror}") from None
    if not folders:
        raise ConfigError(f"replay: no recordings in {path} (a recording folder holds events.jsonl, caller.wav, bot.wav)")
    return [load_recording(folder) for folder in folders]


def main(args: argparse.Namespace) -> int:
    recordings = load_all(args.dir)
    if args.report or args.json:
        from voice.replay.report import render_json, render_text  # noqa: PLC0415 - replay parts only for kconsole replay
        from voice.replay.summary import summarize  # noqa: PLC0415 - replay parts only for kconsole replay

        summaries = [summarize(rec) for rec in recordings]
        print(render_json(summaries, indent=2) if args.json else render_text(summaries))
        return 0
    if not sys.stdout.isatty():
        print("kconsole replay: not a terminal; use --report or --json for a printed summary", file=sys.stderr)
        return 2
    from console.launch import quiet_logging  # noqa: PLC0415 - replay parts only for kconsole replay

    with quiet_logging(getattr(args, "verbose", 0)):
        app = build_replay_app(recordings, source=str(args.dir), audio=args.audio, speed=args.speed,
                               autoplay=not args.paused)
        try:
            app.run()
        finally:
            app.replay.close()
    return 0


def build_replay_app(recordings: list[Recording], **options: Any) -> Any:
    """The console app showing only the Bot view, fed from `recordings` (see console.app)."""
    from console.app import build_replay_app as build  # noqa: PLC0415 - Textual only for the UI

    return build(recordings, **options)
