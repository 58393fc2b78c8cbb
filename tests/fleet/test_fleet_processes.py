"""The fleet with real processes: `kconsole bot --bus` workers, a worker killed mid-call,
`--workers N` on one port, and a real HAProxy in front of two workers (draining included)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.conftest import free_port
from tests.fleet.fleet_helpers import call, start_worker, watch, watch_live
from voice.bus import SayCommand

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.endswith(("_API_KEY", "_TOKEN")) and not k.startswith(("BOT_", "KNOWLARITY_"))}
    env["PYTHONPATH"] = str(REPO)
    return env


class BotProc:
    """`kconsole bot ...` in its own process; `.url` once it printed its banner."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console", "bot", *args], cwd=REPO, env=_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.lines)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def procs() -> Iterator[list[BotProc]]:
    started: list[BotProc] = []
    yield started
    for p in started:
        p.stop()


async def test_a_killed_worker_s_calls_are_marked_lost_and_the_others_go_on(redis_server, procs):
    doomed = BotProc("--port", "0", "--bus", redis_server.url, "--worker-id", "doomed")
    procs.append(doomed)
    url = (await asyncio.to_thread(doomed.wait_for_line, r"voice:\s+(ws://\S+)")).group(1)
    survivor = await start_worker(redis_server.url, "survivor")
    console = await watch_live(redis_server.url, lost_after_s=1.5)
    try:
        a = await call(url, "on-doomed")
        b = await call(survivor.server.url, "on-survivor")
        await console.wait_for(lambda: console.of("call_started", "on-doomed") and console.of("call_started", "on-survivor"))
        doomed.proc.kill()  # SIGKILL: no goodbye, no CallEnded; only the heartbeats stop
        killed_at = time.monotonic()
        ended = await console.wait_for(lambda: console.of("call_ended", "on-doomed"), timeout=10)
        assert ended[0].reason.startswith("lost: worker doomed stopped answering")
        assert time.monotonic() - killed_at < 5
        assert [w for w in console.of("worker") if w.worker == "doomed" and w.state == "lost"]
        # The survivor's call is untouched and still takes commands; the lost one refuses them.
        assert not console.of("call_ended", "on-survivor") and "on-survivor" in survivor.server.sessions
        assert await console.watcher.send(SayCommand(call_id="on-survivor", text="Still here.")) is None
        assert await console.watcher.send(SayCommand(call_id="on-doomed", text="x")) == "call on-doomed has ended"
        await a.hang_up()
        await b.hang_up()
    finally:
        await console.close()
        await survivor.close()


async def test_workers_share_one_port_and_drain_on_sigterm(redis_server, procs):
    port = free_port()
    fleet = BotProc("--port", str(port), "--workers", "2", "--bus", redis_server.url, "--worker-id", "pool",
                    "--drain-timeout", "1")
    procs.append(fleet)
    console = watch(redis_server.url)
    callers = []
    try:
        await console.wait_for(lambda: {"pool-1", "pool-2"} <= {w.worker for w in console.of("worker")}, timeout=40)
        for i in range(16):
            callers.append(await call(f"ws://127.0.0.1:{port}/voice", f"c{i}"))
        started = await console.wait_for(lambda: len(console.of("call_started")) >= 16 and console.of("call_started"))
        assert {e.worker for e in started} == {"pool-1", "pool-2"}, "the kernel spreads calls over both"
        fleet.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(fleet.proc.wait, 45)
        assert code == 0
        await console.wait_for(lambda: len(console.of("call_ended")) >= 16, timeout=10)
        states = {(w.worker, w.state) for w in console.of("worker")}
        assert ("pool-1", "draining") in states and ("pool-2", "draining") in states
    finally:
        for c in callers:
            await c.hang_up()
        await console.close()


def _health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0  # not listening (yet)


async def test_haproxy_in_front_of_two_workers_routes_calls_and_drains(redis_server, tmp_path):
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed (.ci/run installs Debian's haproxy)")
    w1 = await start_worker(redis_server.url, "w1")
    w2 = await start_worker(redis_server.url, "w2")
    front = free_port()
    env = dict(os.environ, KC_BIND=f"127.0.0.1:{front}", KC_CHECK_INTER="200ms",
               KC_WORKER1=f"127.0.0.1:{w1.server.port}", KC_WORKER2=f"127.0.0.1:{w2.server.port}")
    config = REPO / "deploy" / "haproxy.cfg"
    check = subprocess.run([haproxy, "-c", "-f", str(config)], env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proxy = subprocess.Popen([haproxy, "-db", "-f", str(config)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    console = await watch_live(redis_server.url)
    callers = []
    try:
        deadline = time.monotonic() + 10
        while await asyncio.to_thread(_health, front) != 200 and time.monotonic() < deadline:  # HAProxy passes /healthz on
            await asyncio.sleep(0.1)
        for i in range(6):
            callers.append(await call(f"ws://127.0.0.1:{front}/voice", f"via-{i}"))
        started = await console.wait_for(lambda: len(console.of("call_started")) >= 6 and console.of("call_started"))
        assert {e.worker for e in started} == {"w1", "w2"}, "leastconn uses both workers"
        await console.wait_for(lambda: all(any('"playAudio"' in m for m in c.received) for c in callers))
        # Drain w1: its /healthz says 503, HAProxy stops sending it calls, its live calls go on.
        live_on_w1 = set(w1.server.sessions)
        drain = asyncio.create_task(w1.server.drain(30))
        assert await asyncio.to_thread(_health, w1.server.port) == 503
        await asyncio.sleep(1.0)  # fall 2 x inter 200 ms
        for i in range(4):
            callers.append(await call(f"ws://127.0.0.1:{front}/voice", f"after-{i}"))
        await console.wait_for(lambda: len(console.of("call_started")) >= 10)
        after = [e for e in console.of("call_started") if e.call_id.startswith("after-")]
        assert {e.worker for e in after} == {"w2"}
        assert live_on_w1 <= set(w1.server.sessions), "draining keeps the live calls"
        for c in callers:
            await c.hang_up()
        assert await asyncio.wait_for(drain, 10) == 0
    finally:
        for c in callers:
            await c.hang_up()
        proxy.terminate()
        proxy.wait(10)
        await console.close()
        await w1.close()
        await w2.close()
