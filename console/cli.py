"""`kconsole`: one entry point, one subcommand per job.

Each subcommand lives in the module that owns the job and exposes two functions,
`add_arguments(parser)` and `main(args) -> int`; this file only routes. A bad or
missing setting ends with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from kcommon.errors import ConfigError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "console": ("console.launch", "open the console (Knowlarity from settings, or --sandbox URL)"),
    "demo": ("console.demo", "the console on an embedded sandbox and bot, fully offline"),
    "sandbox": ("sandbox.cli", "serve the local stand-in for Knowlarity's cloud"),
    "bot": ("voice.cli_bot", "run the voice-stream bot (WSS server) headless"),
    "call": ("voice.cli_call", "be the Stream Node: call a bot from this terminal"),
    "doctor": ("voice.doctor.cli", "check a bot deployment: the guide's pre-flight checklist and troubleshooting"),
    "replay": ("console.replay", "replay recorded bot calls in the Bot view (or --report / --json)"),
}
DEFAULT_COMMAND = "console"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, just that command's module is imported (the
    others are listed for --help but not loaded: `kconsole replay --report` need not pay
    for Textual, the sandbox and the providers)."""
    parser = argparse.ArgumentParser(
        prog="kconsole",
        description="Knowlarity console: live calls, agents, tasks, call log, voice bot.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("--log-json", action="store_true",
                        help="log one JSON object per line (ts, level, call_id, component, message) for machines")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - one broken part must not take down every command
            sub.set_defaults(_unavailable=f"'{name}' is not available: {type(exc).__name__}: {exc}")
            continue
        module.add_arguments(sub)
        sub.set_defaults(_main=module.main)
    return parser


GLOBAL_FLAGS = ("-v", "-vv", "-vvv", "--verbose", "--log-json")


def with_default_command(argv: list[str]) -> list[str]:
    """`kconsole [global flags] [COMMAND] ...`: the words with the console's command put in
    where none was given (`kconsole --sandbox URL` is `kconsole console --sandbox URL`)."""
    i = 0
    while i < len(argv) and argv[i] in GLOBAL_FLAGS:
        i += 1
    if i < len(argv) and (argv[i] in COMMANDS or argv[i] in ("-h", "--help")):
        return argv
    return [*argv[:i], DEFAULT_COMMAND, *argv[i:]]


def main(argv: Sequence[str] | None = None) -> int:
    words = with_default_command(list(sys.argv[1:] if argv is None else argv))
    chosen = next((w for w in words if w not in GLOBAL_FLAGS), None)
    args = build_parser(chosen if chosen in COMMANDS else None).parse_args(words)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.log_json:
        from voice.logs import JsonLogFormatter  # noqa: PLC0415 - only with --log-json

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonLogFormatter())
    if getattr(args, "_unavailable", None):
        print(f"kconsole: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        return int(args._main(args) or 0)
    except ConfigError as exc:
        print(f"kconsole: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
