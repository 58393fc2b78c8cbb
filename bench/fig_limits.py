"""Figure 9: limits. Each attack of the hardening issue replayed on loopback, bounded in time,
with the figure that shows what it costs now (memory, CPU, an unrelated call's greeting,
bytes on disk, what leaks into a log).

The bot runs in its own process (bench.botproc) with the default offline providers unless a
row says otherwise, its INFO log to a file as `kconsole bot` writes it, and small limits
where waiting for the defaults would make the run long (BOT_IDLE_TIMEOUT_S=3). Attackers run
in their own processes where their CPU would otherwise be measured (bench.hostile).
The "before" column of docs/benchmarks.md is this module run from an export of the commit
before the hardening with this bench/ directory copied in (`git archive a1a4455 | tar -x`).

Row 2 drives the console's table headless (Textual's test pilot), as every view uses it.
Row 10 (context growth over many cut turns) has no wire-level replay here: its test drives
the session through the cut turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.harness import ROOT, BotProcess, Caller
from bench.report import Figure, Table, median
from voice.protocol import CallMetadata, encode_metadata

NAME = "limits"
TITLE = "9. Limits (the hardening issue's attacks, replayed on loopback)"
MIB = 1024 * 1024


def _meta(callid: str) -> str:
    return encode_metadata(CallMetadata(callid=callid, virtual_number="+918000000000", customer_number="+919800000000"))


async def _greeting_ms(url: str, timeout: float = 10.0) -> float | None:
    caller = Caller(url)
    try:
        await caller.connect()
        sent = await caller.send_metadata()
        at = await caller.wait_for("playAudio", after=sent, timeout=timeout)
        return None if at is None else (at - sent) * 1000
    except (OSError, ConnectionClosed, InvalidStatus):
        return None
    finally:
        await caller.close()


async def _greetings(url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        ms = await _greeting_ms(url)
        if ms is not None:
            out.append(ms)
        await asyncio.sleep(0.1)
    return out


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def _disk(root: Path) -> tuple[int, int]:
    """(bytes, folders) under a recordings directory."""
    total, folders = 0, 0
    for d in root.iterdir() if root.exists() else []:
        if d.is_dir():
            folders += 1
            total += sum(f.stat().st_size for f in d.iterdir() if f.is_file())
    return total, folders


def _text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


# ---- 1. log format injection ---------------------------------------------------------------


async def attack_log_injection(ctx: Any, tmp: Path) -> dict[str, str]:
    log, err = str(tmp / "a1.log"), str(tmp / "a1.err")
    async with BotProcess(providers="offline", log=log, stderr=err) as bot:
        await _greeting_ms(bot.url)
        rss0 = bot.rss()
        peak = [rss0]

        async def sample() -> None:
            while True:
                peak.append(bot.rss())
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample())
        caller = Caller(bot.url, callid="fmt%400000000s")
        await caller.connect()
        sent = await caller.send_metadata()
        at = await caller.wait_for("playAudio", after=sent, timeout=15)
        await caller.close()
        forged = Caller(bot.url, callid="x\n2026-01-01 00:00:00 [call_id=admin] [MONITOR] supervisor command: transfer")
        await forged.connect()
        await forged.send_metadata()
        await forged.wait_for("playAudio", timeout=10)
        await forged.close()
        hidden = Caller(bot.url, callid="%(secret)s%d")
        await hidden.connect()
        await hidden.send_metadata()
        await hidden.wait_for("playAudio", timeout=10)
        await hidden.close()
        await asyncio.sleep(0.5)
        sampler.cancel()
    lines = _text(log).splitlines()
    forged_lines = sum(1 for line in lines if line.startswith("2026-01-01 00:00:00 [call_id=admin]"))
    errors = _text(err).count("--- Logging error ---")
    greet = "none" if at is None else f"{(at - sent) * 1000:.0f} ms"
    return {"attack": "1. `%` and CR/LF in callid (log format injection)",
            "measured": f"greeting of the `fmt%400000000s` call {greet}, bot RSS +{(max(peak) - rss0) / MIB:.0f} MiB; "
                        f"{forged_lines} forged log lines; {errors} logging errors",
            "ok": str(at is not None and (at - sent) < 0.5 and forged_lines == 0 and errors == 0)}


# ---- 2. markup in account data -------------------------------------------------------------


async def attack_markup(ctx: Any, tmp: Path) -> dict[str, str]:
    """The console's table (VimTable, as every view uses it) given people-typed names."""
    from textual.app import App, ComposeResult

    from console.widgets.table import VimTable

    hostile = ("Sales [/EMEA]", "[@click=app.quit]manager[/]", "[wrong number]")

    class Probe(App[None]):
        def compose(self) -> ComposeResult:
            yield VimTable([("a", "group", 20), ("b", "role", 30), ("c", "disposition", 20)], id="t")

    outcome = "?"
    shown = ""
    try:
        app = Probe()
        async with app.run_test(size=(100, 10)) as pilot:
            table = app.query_one(VimTable)
            table.sync_rows([("r1", hostile)])
            await pilot.pause()
            await pilot.click(VimTable, offset=(25, 1))  # the role cell
            await pilot.pause()
            shown = " / ".join(str(getattr(c, "plain", c)) for c in table.get_row_at(0))
            outcome = "still running" if app.is_running else "quit by a click"
    except Exception as exc:  # noqa: BLE001 - the console's crash, as the agent would see it
        outcome = f"crashed: {type(exc).__name__}"
    ok = outcome == "still running" and all(h in shown for h in hostile)
    return {"attack": "2. account data with markup: `Sales [/EMEA]`, `[@click=app.quit]manager[/]`, `[wrong number]`",
            "measured": f"console table {outcome}" + (f"; shows {shown!r}" if shown else ""),
            "ok": str(ok)}


# ---- 3. cross-site WebSocket hijacking -------------------------------------------------------


async def attack_origin(ctx: Any, tmp: Path) -> dict[str, str]:
    async with BotProcess(providers="instant") as bot:
        monitor = bot.url.rsplit("/", 1)[0] + "/monitor"
        verdicts = []
        for url in (monitor, bot.url):
            try:
                async with connect(url, origin="https://evil.example", open_timeout=5) as ws:  # type: ignore[arg-type]
                    verdicts.append("accepted")
                    await ws.close()
            except InvalidStatus as exc:
                verdicts.append(f"refused {exc.response.status_code}")
            except (OSError, ConnectionClosed) as exc:
                verdicts.append(f"refused ({type(exc).__name__})")
    return {"attack": "3. a web page (Origin: https://evil.example) opens /monitor and /voice",
            "measured": f"/monitor {verdicts[0]}, /voice {verdicts[1]}",
            "ok": str(all(v.startswith("refused") for v in verdicts))}


# ---- 4. disk fill through --record-dir -------------------------------------------------------


async def attack_disk(ctx: Any, tmp: Path) -> dict[str, str]:
    rec = tmp / "a4-rec"
    rec.mkdir()
    seconds = 3.0 if ctx.quick else 8.0
    burst = 200 if ctx.quick else 1000
    async with BotProcess(providers="instant", env={"RECORD_DIR": str(rec)}) as bot:
        frame = bytes(64 * 1024 - 2)
        async with connect(bot.url, compression=None, max_size=2**22) as ws:
            await ws.send(_meta("disk"))
            t0 = time.monotonic()
            try:
                while time.monotonic() - t0 < seconds:
                    await ws.send(frame)
            except ConnectionClosed:
                pass
            wall = time.monotonic() - t0
        await asyncio.sleep(1.0)
        one_call, _ = _disk(rec)
        wavs = list(rec.glob("*/caller.wav"))
        caller_s = max(((w.stat().st_size - 44) / 32000 for w in wavs), default=0.0)

        async def metadata_only(i: int) -> None:
            try:
                async with connect(bot.url, compression=None, open_timeout=20) as ws:
                    await ws.send(_meta(f"burst-{i}"))
                    await asyncio.sleep(0.05)
            except (OSError, ConnectionClosed, InvalidStatus, TimeoutError):
                pass

        for i in range(0, burst, 50):
            await asyncio.gather(*(metadata_only(j) for j in range(i, min(burst, i + 50))))
        await asyncio.sleep(1.0)
        _, folders = _disk(rec)
    return {"attack": f"4. one caller sends 64 KiB frames for {seconds:.0f} s; {burst} metadata-only connections "
                      "(RECORD_DIR set)",
            "measured": f"{one_call / MIB:.1f} MiB on disk for a {wall:.1f} s call (caller.wav {caller_s:.1f} s); "
                        f"{folders - 1} folders from the {burst} connections",
            "ok": str(caller_s <= wall + 0.5 and folders <= 1)}


# ---- 5. silent calls held forever -----------------------------------------------------------


async def attack_idle(ctx: Any, tmp: Path) -> dict[str, str]:
    n = 100 if ctx.quick else 300
    env = {"BOT_IDLE_TIMEOUT_S": "3"}
    async with BotProcess(providers="offline", env=env) as bot:
        await _greeting_ms(bot.url)
        await asyncio.sleep(0.5)
        rss0, fds0 = bot.rss(), _fds(bot.pid)
        conns = []
        readers = []

        async def drain(ws: Any) -> None:  # a Stream Node reads what the bot sends (and answers pings)
            try:
                async for _ in ws:
                    pass
            except ConnectionClosed:
                pass

        for i in range(0, n, 50):
            batch = await asyncio.gather(*(connect(bot.url, compression=None, open_timeout=30, ping_interval=0.5)
                                           for _ in range(min(50, n - i))), return_exceptions=True)
            for ws in batch:
                if not isinstance(ws, BaseException):
                    conns.append(ws)
                    readers.append(asyncio.create_task(drain(ws)))
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(_meta(f"silent-{len(conns)}"))
        await asyncio.sleep(1.5)
        refused = sum(1 for ws in conns if ws.close_code == 1013)
        live = len(conns) - refused
        rss1, fds1 = bot.rss(), _fds(bot.pid)
        await asyncio.sleep(4.0)  # past the idle timeout; the clients answer (and send) pings all along
        held = (await bot.stats())["sessions"]
        for ws in conns:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.sleep(5.0)
        rss2 = bot.rss()
    return {"attack": f"5. {n} silent calls after metadata that answer pings (offline providers)",
            "measured": f"{refused} refused with 1013 (BOT_MAX_CALLS); RSS +{(rss1 - rss0) / MIB:.0f} MiB "
                        f"({(rss1 - rss0) / max(1, live) / 1024:.0f} KiB/call held), "
                        f"+{fds1 - fds0} fds; {held} still held after 5.5 s (BOT_IDLE_TIMEOUT_S=3); "
                        f"RSS after they left +{(rss2 - rss0) / MIB:.0f} MiB",
            "ok": str(held == 0)}


# ---- 6. tiny-frame flood ---------------------------------------------------------------------


async def attack_tiny_frames(ctx: Any, tmp: Path) -> dict[str, str]:
    n = 8 if ctx.quick else 20
    seconds = 3.0 + n * 0.4
    async with BotProcess(providers="offline") as bot:
        await _greeting_ms(bot.url)
        base = await _greetings(bot.url, n)
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        flood = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.hostile", "tiny", bot.url, "81000", str(seconds), cwd="/tmp", env=env,
            stdout=asyncio.subprocess.PIPE)
        await asyncio.sleep(1.0)
        cpu0, t0 = bot.cpu_seconds(), time.monotonic()
        during = await _greetings(bot.url, n)
        cpu = (bot.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        assert flood.stdout is not None
        out = json.loads((await asyncio.wait_for(flood.stdout.readline(), seconds + 30)) or b"{}")
        await flood.wait()
    rate = out.get("frames", 0) / max(0.1, out.get("s", 1.0))
    return {"attack": "6. one connection sends 2-byte frames at 81,000/s; another call's greeting (offline providers)",
            "measured": f"greeting median {median(base):.0f} ms alone, {median(during):.0f} ms "
                        f"(max {max(during, default=0):.0f}) "
                        f"during the flood; bot CPU {100 * cpu:.0f} % of a core; the flooder got {rate:,.0f} frames/s out",
            "ok": str(bool(during) and max(during) <= max(300.0, 3 * max(base, default=0.0)))}


# ---- 7. the console's stream on a huge line; 11. reconnect after an outage --------------------


async def _sse_server() -> tuple[asyncio.subprocess.Process, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.hostile", "sse", cwd="/tmp", env=env,
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    port = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))["port"]
    return proc, port


async def attack_big_line(ctx: Any, tmp: Path) -> dict[str, str]:
    from console.api.stream import LiveStream

    mb = 20 if ctx.quick else 50
    proc, port = await _sse_server()
    lag: list[float] = []

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            lag.append((loop.time() - t - 0.01) * 1000)

    p = asyncio.create_task(probe())
    t0 = time.monotonic()
    got = None
    try:
        async with LiveStream(f"http://127.0.0.1:{port}/update-stream/benchkey/konnect?mode=bigline&mb={mb}",
                              backfill=False) as stream:
            async with asyncio.timeout(120):
                async for item in stream:
                    got = item
                    if str(getattr(item, "uuid", "")).startswith("hostile-"):
                        break
    except TimeoutError:
        pass
    finally:
        p.cancel()
        proc.kill()
        await proc.wait()
    took = time.monotonic() - t0
    worst = max(lag, default=0.0)
    return {"attack": f"7. a {mb} MB non-JSON `data:` line on the live stream (console client)",
            "measured": f"event loop blocked up to {worst:.0f} ms; next event after {took:.1f} s"
                        + ("" if got is not None else " (never)"),
            "ok": str(worst < 500 and got is not None and took < 10.0)}


async def attack_outage(ctx: Any, tmp: Path) -> dict[str, str]:
    from console.api.stream import LiveStream

    down = 8.0 if ctx.quick else 20.0
    proc, port = await _sse_server()
    states: list[tuple[float, str]] = []
    back_at: float | None = None

    def on_state(state: Any) -> None:
        states.append((time.monotonic(), str(getattr(state, "status", state))))

    t0 = time.monotonic()
    items = 0
    try:
        async with LiveStream(f"http://127.0.0.1:{port}/update-stream/benchkey/konnect?mode=flap&down={down}",
                              backfill=False, on_state=on_state) as stream:
            async with asyncio.timeout(down + 60):
                async for _ in stream:
                    items += 1
                    if items == 1:
                        back_at = time.monotonic() + 0.5 + down
                    if items >= 2:
                        break
    except TimeoutError:
        pass
    finally:
        proc.kill()
        await proc.wait()
    end = time.monotonic()
    late = end - back_at if back_at is not None and items >= 2 else float("nan")
    return {"attack": f"11. the stream's server is unreachable for {down:.0f} s, then back (console client)",
            "measured": f"live again {late:.1f} s after the server was back ({end - t0 - 0.5:.0f} s without a stream)",
            "ok": str(late <= 5.0)}


# ---- 8. refusals instead of tracebacks; 9. secrets in the bot's log ---------------------------


async def attack_refusals(ctx: Any, tmp: Path) -> dict[str, str]:
    log, err = str(tmp / "a8.log"), str(tmp / "a8.err")
    async with BotProcess(providers="instant", log=log, stderr=err) as bot:
        code = None
        async with connect(bot.url, compression=None) as ws:
            await ws.send('{"callid": "big", "virtual_number": "+918000000000", "customer_number": "+919800000000", '
                          '"sample_rate": ' + "9" * 5000 + "}")
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except (ConnectionClosed, TimeoutError):
                pass
            code = ws.close_code
        statuses = []
        async with httpx.AsyncClient() as client:
            for rate in ("infk", "1e400k", "１６０００"):
                try:
                    r = await client.get(f"http://127.0.0.1:{bot.port}/voice?sample_rate={rate}",
                                         headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                  "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
                    statuses.append(str(r.status_code))
                except httpx.HTTPError as exc:
                    statuses.append(type(exc).__name__)
        await asyncio.sleep(0.3)
    tracebacks = (_text(log) + _text(err)).count("Traceback")
    return {"attack": "8. metadata with a 5,000-digit integer; ?sample_rate=infk / 1e400k / full-width digits",
            "measured": f"close {code}; HTTP {' / '.join(statuses)}; {tracebacks} tracebacks in the log",
            "ok": str(code in (1007, 1008) and all(s == "400" for s in statuses) and tracebacks == 0)}


async def attack_secrets(ctx: Any, tmp: Path) -> dict[str, str]:
    token = "tok3nSECRETbench"
    log, err = str(tmp / "a9.log"), str(tmp / "a9.err")
    async with BotProcess(providers="instant", log=log, stderr=err, env={"BOT_TOKEN": token}) as bot:
        base = f"ws://127.0.0.1:{bot.port}"
        for path in (f"/{token}", f"/voice;token={token}", f"/voice/{token}x", f"/monitor/{token}x"):
            try:
                async with connect(base + path, open_timeout=5) as ws:
                    await ws.close()
            except (InvalidStatus, OSError, ConnectionClosed):
                pass
        await asyncio.sleep(0.3)
    text = _text(log) + _text(err)
    leaks = sum(text.count(s) for s in (token, token.upper(), token.lower()))
    return {"attack": "9. the bot token in a refused path (`/<token>`, `/voice;token=`, near misses)",
            "measured": f"{leaks} occurrences of the token in the bot's log",
            "ok": str(leaks == 0)}


ATTACKS = [attack_log_injection, attack_markup, attack_origin, attack_disk, attack_idle, attack_tiny_frames, attack_big_line,
           attack_refusals, attack_secrets, attack_outage]


async def run(ctx) -> Figure:
    fig = Figure(NAME, TITLE)
    table = Table(["attack", "measured", "holds"])
    tmp = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    held = 0
    try:
        for attack in ATTACKS:
            ctx.progress(attack.__name__)
            try:
                row = await asyncio.wait_for(attack(ctx, tmp), 180)
            except Exception as exc:  # noqa: BLE001 - one attack failing must not hide the others
                row = {"attack": attack.__name__, "measured": f"ERROR {type(exc).__name__}: {exc}"[:200], "ok": "False"}
            held += row["ok"] == "True"
            table.add(row["attack"], row["measured"], "yes" if row["ok"] == "True" else "NO")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fig.tables.append(table)
    fig.check("every replayed attack is held (row 10: by its test)", f"{held}/{len(ATTACKS)}",
              held == len(ATTACKS))
    return fig
