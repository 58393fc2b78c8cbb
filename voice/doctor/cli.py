"""`kconsole doctor`: check a bot deployment before the first real call.

Takes the same settings as `kconsole bot` (environment, `.env`, the same flags), plus
what only the Stream Node knows: `--public-url` (its wss-url) and `--stream-rate` (its
sampling-rate). Prints one line per check, ok / warn / FAIL, with the fix under each
line that is not ok. Exit status 1 if any check failed, else 0; 2 for bad settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from voice import cli_bot
from voice.config import load_bot_settings
from voice.doctor.checks import GREETING_LIMIT_S, DoctorOptions, run_doctor
from voice.doctor.result import CheckResult

NOT_CHECKABLE = ("not checkable from here: Voice Streaming must be enabled on your SR number "
                 "(ask your Knowlarity account manager)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli_bot.add_arguments(parser)
    parser.add_argument("--public-url", metavar="WSS_URL",
                        help="the wss-url configured in the Stream Node (e.g. wss://abc.ngrok-free.app/voice)")
    parser.add_argument("--stream-rate", type=cli_bot._rate, metavar="RATE",
                        help="the sampling-rate configured in the Stream Node (8k, 16k, ...)")
    parser.add_argument("--greeting-limit", type=float, default=GREETING_LIMIT_S, metavar="S",
                        help=f"seconds the Stream Node waits for the first playAudio (default {GREETING_LIMIT_S:g})")
    parser.add_argument("--cafile", type=Path, metavar="PEM", help="trust this CA when calling the public URL")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def render(results: list[CheckResult]) -> str:
    lines = [r.line() for r in results]
    fails = sum(r.status == "fail" for r in results)
    warns = sum(r.status == "warn" for r in results)
    oks = len(results) - fails - warns
    lines.append("")
    lines.append(f"{oks} ok, {warns} warning{'s' * (warns != 1)}, {fails} failure{'s' * (fails != 1)}")
    lines.append(NOT_CHECKABLE)
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    overrides = cli_bot.overrides_from(args)
    overrides["record_dir"] = None  # the doctor's own calls are not recordings
    settings = load_bot_settings(**overrides)
    opts = DoctorOptions(public_url=args.public_url, stream_rate=args.stream_rate,
                         greeting_limit_s=args.greeting_limit, cafile=args.cafile,
                         allow_insecure=bool(args.allow_insecure))
    results = asyncio.run(run_doctor(settings, opts))
    if args.json:
        print(json.dumps({"ok": not any(r.status == "fail" for r in results),
                          "checks": [r.to_dict() for r in results]}, indent=2))
    else:
        print(f"kconsole doctor: bot {settings.bot_host}:{settings.bot_port}{settings.bot_path} "
              f"at {settings.bot_sample_rate} Hz")
        print(render(results))
    sys.stdout.flush()
    return 1 if any(r.status == "fail" for r in results) else 0
