"""`kconsole bot --workers N`: N bot processes sharing one port through SO_REUSEPORT.

The kernel spreads new connections over the processes that listen with SO_REUSEPORT, so
no process is a proxy and a call's audio never crosses a second hop. Each worker is an
ordinary `kconsole bot` (its own event loop, providers and sessions) that publishes to the
same `--bus` under its own worker id (`BASE-1` ... `BASE-N`).

Settings reach the workers through their environment (the guide's names), never their
command line, so a token does not show up in the process list. SIGINT / SIGTERM go to
every worker, which drain (no new calls, live ones finish up to --drain-timeout) and exit.
A worker that dies is reported; the others go on serving.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from kcommon.errors import ConfigError
from voice.fleet.streams import default_worker_id


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host.strip("[]"), 0))
        return int(s.getsockname()[1])


def worker_env(settings: Any, port: int) -> dict[str, str]:
    """The parent's environment plus every setting the parent resolved (flags included)."""
    env = dict(os.environ)
    for name in settings.model_fields_set | {"bot_port"}:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = str(value)
        env[name.upper()] = str(value)
    env["BOT_PORT"] = str(port)
    return env


def worker_argv(args: argparse.Namespace, fleet: Any, index: int, base_id: str) -> list[str]:
    verbose = ["-v"] * int(getattr(args, "verbose", 0) or 0)
    argv = [sys.executable, "-m", "console", *verbose, "bot", "--workers", "1", "--reuse-port",
            "--worker-id", f"{base_id}-{index}", "--drain-timeout", str(fleet.drain_timeout_s)]
    if fleet.bus:
        argv += ["--bus", fleet.bus]
    if fleet.metrics_port is not None:
        argv += ["--metrics-port", str(fleet.metrics_port + index if fleet.metrics_port else 0)]
    if getattr(args, "allow_insecure", False):
        argv.append("--allow-insecure")
    return argv


def run_workers(args: argparse.Namespace, settings: Any, fleet: Any) -> int:
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError("--workers needs SO_REUSEPORT, which this system does not have")
    port = settings.bot_port or free_port(settings.bot_host)
    base_id = fleet.worker_id or default_worker_id()
    env = worker_env(settings, port)
    procs: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for i in range(1, fleet.workers + 1):
            procs.append(subprocess.Popen(worker_argv(args, fleet, i, base_id), env=env))
        print(f"kconsole bot: {fleet.workers} workers on {settings.bot_host}:{port} "
              f"({base_id}-1 ... {base_id}-{fleet.workers}); Ctrl-C stops them all", flush=True)
        reported: set[int] = set()
        while any(p.poll() is None for p in procs):
            for i, proc in enumerate(procs, 1):
                code = proc.poll()
                if code is not None and i not in reported:
                    reported.add(i)
                    if not stopping:
                        print(f"kconsole bot: worker {base_id}-{i} exited with {code}; the others go on",
                              file=sys.stderr, flush=True)
            time.sleep(0.2)
        codes = [p.returncode for p in procs]
        return 0 if stopping or all(c == 0 for c in codes) else 1
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
