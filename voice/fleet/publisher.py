"""A worker's side of the fleet bus: events out, heartbeats, the recordings index, commands in.

`FleetPublisher` attaches to one running `BotServer`. It never sits in the call path:

- it reads the server's in-process `EventBus` through an ordinary bounded subscription, so
  a slow or absent Redis costs this subscriber old events (counted, then published as a
  `Dropped` event and logged once Redis is back), never a call's time;
- it writes batches with one pipeline per batch (XADD ... MAXLEN ~ N), so 400 calls cost a
  few round trips a second, not one per event;
- while Redis is unreachable it keeps at most `buffer` events, retries with backoff and
  says what it dropped when it reconnects;
- it answers the supervisor commands addressed to this worker (`{p}:cmd:{worker}`) with
  one reply each (`{p}:reply:{request}`), through the server's own `handle_command`, so a
  command over the fleet does exactly what it does over `/monitor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import ValidationError

from kcommon.backoff import Backoff
from voice.bus import (
    CallEnded,
    CallStarted,
    Dropped,
    EventBus,
    ListenCommand,
    MonitorCommand,
    MonitorEvent,
    WorkerState,
    WorkerStatus,
    parse_command,
    to_json,
)
from voice.fleet.looplag import LoopLagMonitor
from voice.fleet.streams import (
    EVENTS_MAXLEN,
    HEARTBEAT_S,
    REPLY_TTL_S,
    WORKER_TTL_S,
    FleetKeys,
    default_worker_id,
    describe_bus_url,
    dumps,
)

log = logging.getLogger("voice.fleet")
_STOP_S = 3.0  # how long close() waits for its tasks to stop

BATCH = 500


class FleetServer(Protocol):
    """What the publisher needs of a bot server (BotServer has all of it)."""

    bus: EventBus

    @property
    def sessions(self) -> dict[str, Any]: ...

    async def handle_command(self, cmd: MonitorCommand) -> str | None: ...

    def recording_dir(self, call_id: str) -> str | None: ...


class FleetPublisher:
    """Publish one bot server's calls to Redis and take supervisor commands from it."""

    def __init__(
        self,
        server: FleetServer,
        url: str,
        *,
        worker_id: str | None = None,
        keys: FleetKeys | None = None,
        maxlen: int = EVENTS_MAXLEN,
        buffer: int = 20_000,
        heartbeat_s: float = HEARTBEAT_S,
        redis_factory: Callable[[str], Any] | None = None,
        lag: LoopLagMonitor | None = None,
    ) -> None:
        self.server = server
        self.url = url
        self.worker_id = worker_id or default_worker_id()
        self.keys = keys or FleetKeys()
        self.maxlen = maxlen
        self.buffer = buffer
        self.heartbeat_s = heartbeat_s
        self._redis_factory = redis_factory or _default_redis
        self._redis: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._flushing = False  # the pump is sending a batch (close() lets it finish)
        self._sub: Any = None
        self._pending: deque[MonitorEvent] = deque()
        self.connected = False
        self.published = 0
        self.dropped = 0            # events this worker could not deliver (buffer full)
        self._unreported_drops = 0
        self.calls_total = 0
        self.lag = lag or LoopLagMonitor()
        self._owns_lag = lag is None
        self._cpu_mark = (time.monotonic(), time.process_time())
        self._down_since: float | None = None
        self.on_dropped: Callable[[float], None] | None = None   # e.g. a metrics counter's inc
        self._running: set[asyncio.Task[None]] = set()

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._redis = self._redis_factory(self.url)
        self._sub = self.server.bus.subscribe(maxsize=self.buffer)
        if self._owns_lag:
            self.lag.start()
        self._tasks = [
            asyncio.create_task(self._pump(), name="fleet-pump"),
            asyncio.create_task(self._heartbeat(), name="fleet-heartbeat"),
            asyncio.create_task(self._commands(), name="fleet-commands"),
        ]
        log.info("[FLEET] worker %s publishing to %s", self.worker_id, describe_bus_url(self.url))

    async def close(self) -> None:
        """Stop the pump and the loops, flush what can be flushed quickly, say goodbye.

        The pump stops before the last flush: the two flushes used to run at once on the same
        pending batch, publishing its events twice and then popping events never published
        (an IndexError logged as "the bus is unreachable"). A task that does not stop within
        `_STOP_S` (a cancellation swallowed inside the Redis client left the pump waiting for
        events forever, and a worker on SIGTERM never exited) is left behind, not waited for."""
        self._closing = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            if task.get_name() != "fleet-pump" or not self._flushing:
                task.cancel()  # (a pump in the middle of a flush finishes it, then sees `_closing`)
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=_STOP_S)
            if stuck:
                log.warning("[FLEET] %s did not stop within %.0f s; closing without %s",
                            ", ".join(t.get_name() for t in stuck), _STOP_S, "it" if len(stuck) == 1 else "them")
        if self._sub is not None:
            self._take()  # what the calls said last (their CallEnded at a shutdown) goes out too
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._flush_now(), 2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._beat("stopped"), 1.0)
        if self._sub is not None:
            self._sub.close()
        if self._owns_lag:
            self.lag.stop()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    async def draining(self) -> None:
        """Tell consoles at once that this worker takes no new calls."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._beat("draining"), 1.0)

    # ---- events out --------------------------------------------------------------------------

    def _count_drops(self, n: int) -> None:
        self.dropped += n
        self._unreported_drops += n
        if self.on_dropped is not None:
            self.on_dropped(n)

    def _take(self) -> None:
        """Move what the subscription holds into the pending batch, within the buffer bound."""
        sub = self._sub
        if sub.dropped:  # the subscription itself overflowed (Redis slower than the calls)
            self._count_drops(sub.dropped)
            sub.dropped = 0
        while len(self._pending) < self.buffer:
            try:
                event = sub.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._pending.append(event)

    async def _pump(self) -> None:
        attempt = 0
        while not self._closing:
            if not self._pending:
                event = await self._sub.get()
                if isinstance(event, Dropped):
                    self._count_drops(event.count)
                else:
                    self._pending.append(event)
            self._take()
            failed: Exception | None = None
            self._flushing = True
            try:
                await self._flush_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: buffer, back off, retry
                failed = exc
            finally:
                self._flushing = False
            if failed is not None:
                attempt += 1
                self._went_down(failed)
                await asyncio.sleep(_backoff(attempt))
                continue
            if attempt:
                self._came_back()
            attempt = 0

    async def _flush_now(self) -> None:
        if self._redis is None:
            return
        if self._unreported_drops:
            self._pending.appendleft(Dropped(call_id="*", count=self._unreported_drops, worker=self.worker_id))
            self._unreported_drops = 0
        while self._pending:
            batch = [self._pending[i] for i in range(min(BATCH, len(self._pending)))]
            pipe = self._redis.pipeline(transaction=False)
            for event in batch:
                if not event.worker:
                    event.worker = self.worker_id
                pipe.xadd(self.keys.events, {"w": self.worker_id, "e": to_json(event)},
                          maxlen=self.maxlen, approximate=True)
            ids = await pipe.execute()
            for _ in batch:  # out: whatever happens to the index below, never sent again
                self._pending.popleft()
            self.published += len(batch)
            index = self._redis.pipeline(transaction=False)
            for event, stream_id in zip(batch, ids, strict=True):
                self._index(index, event, stream_id)
            if len(index):
                await index.execute()

    def _index(self, pipe: Any, event: MonitorEvent, stream_id: str) -> None:
        if isinstance(event, CallStarted):
            self.calls_total += 1
            pipe.hset(self.keys.calls, event.call_id, dumps({"worker": self.worker_id, "since": stream_id}))
        elif isinstance(event, CallEnded):
            pipe.hdel(self.keys.calls, event.call_id)
            pipe.hset(self.keys.recordings, event.call_id, dumps({
                "worker": self.worker_id, "dir": self.server.recording_dir(event.call_id),
                "outcome": event.text, "who": event.outcome, "ended": event.ts, "duration_s": event.duration_s,
            }))

    def _went_down(self, exc: BaseException) -> None:
        self.connected = False
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("[FLEET] the bus at %s is unreachable (%s); calls go on, up to %d events are kept",
                        describe_bus_url(self.url), type(exc).__name__, self.buffer)
        overflow = len(self._pending) - self.buffer
        if overflow > 0:
            for _ in range(overflow):
                self._pending.popleft()
            self._count_drops(overflow)

    def _came_back(self) -> None:
        self.connected = True
        if self._down_since is not None:
            down = time.monotonic() - self._down_since
            self._down_since = None
            log.warning("[FLEET] the bus is back after %.1f s; %d events dropped in all so far", down, self.dropped)

    # ---- heartbeats --------------------------------------------------------------------------

    def status(self, state: WorkerState = "up") -> WorkerStatus:
        now, cpu = time.monotonic(), time.process_time()
        (then, cpu_then), self._cpu_mark = self._cpu_mark, (now, cpu)
        load = (cpu - cpu_then) / (now - then) if now > then else 0.0
        return WorkerStatus(
            call_id="*", worker=self.worker_id, state=state,
            live_calls=sorted(self.server.sessions), calls_total=self.calls_total,
            load=round(load, 3), loop_lag_ms=round(self.lag.take_max_ms(), 2), interval_s=self.heartbeat_s,
        )

    async def _beat(self, state: WorkerState = "up") -> None:
        status = self.status(state)
        raw = to_json(status)
        pipe = self._redis.pipeline(transaction=False)
        if state == "stopped":
            pipe.delete(self.keys.worker(self.worker_id))
        else:
            pipe.set(self.keys.worker(self.worker_id), raw, ex=WORKER_TTL_S)
        pipe.xadd(self.keys.events, {"w": self.worker_id, "e": raw}, maxlen=self.maxlen, approximate=True)
        await pipe.execute()
        if not self.connected and self._down_since is None:
            self.connected = True

    async def _heartbeat(self) -> None:
        while not self._closing:
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the pump logs the outage once
                self._went_down(exc)
            await asyncio.sleep(self.heartbeat_s)

    # ---- commands in -------------------------------------------------------------------------

    async def _commands(self) -> None:
        stream = self.keys.commands(self.worker_id)
        last = "$"
        attempt = 0
        seen: OrderedDict[str, None] = OrderedDict()
        while not self._closing:
            try:
                if last == "$":
                    # The newest id now, so commands sent while we were down are not replayed
                    # long after the supervisor gave up on them (their deadline also guards).
                    info = await self._redis.xrevrange(stream, count=1)
                    last = info[0][0] if info else "0-0"
                reply = await self._redis.xread({stream: last}, block=1000, count=50)
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - any Redis failure: retry with backoff
                attempt += 1
                await asyncio.sleep(_backoff(attempt))
                continue
            for _name, entries in reply or ():
                for entry_id, fields in entries:
                    last = entry_id
                    request = fields.get("rid", "")
                    if not request or request in seen:
                        continue
                    seen[request] = None
                    if len(seen) > 1000:
                        seen.popitem(last=False)
                    task = asyncio.create_task(self._run_command(request, fields), name="fleet-command")
                    self._running.add(task)  # a reference, so the task is not collected mid-command
                    task.add_done_callback(self._running.discard)

    async def _run_command(self, request: str, fields: dict[str, str]) -> None:
        result: dict[str, Any] = {"ok": False, "error": None, "worker": self.worker_id}
        try:
            deadline = float(fields.get("deadline", "0") or 0)
        except ValueError:
            deadline = 0.0
        if deadline and time.time() > deadline:
            return  # the console has given up on it already; doing it now would surprise
        try:
            cmd = parse_command(fields.get("c", ""))
        except ValidationError:
            result["error"] = "bad command"
        else:
            if isinstance(cmd, ListenCommand):
                result["error"] = "listening is not carried by the fleet bus: watch this worker's /monitor"
            else:
                try:
                    error = await self.server.handle_command(cmd)
                except Exception as exc:  # noqa: BLE001 - a failed command is a reply, not a crash
                    error = f"the bot could not do that: {type(exc).__name__}"
                result["ok"] = error is None
                result["error"] = error
        with contextlib.suppress(Exception):
            pipe = self._redis.pipeline(transaction=False)
            pipe.rpush(self.keys.reply(request), dumps(result))
            pipe.expire(self.keys.reply(request), REPLY_TTL_S)
            await pipe.execute()


# 0.2 s, 0.4 s, ... capped at 5 s, with jitter: a Redis restart is noticed within seconds.
BUS_RETRY = Backoff(base=0.2, factor=2.0, cap=5.0, jitter=0.5)


def _backoff(attempt: int) -> float:
    return BUS_RETRY.delay(attempt, random.random())


def _default_redis(url: str) -> Any:
    from redis.asyncio import Redis  # noqa: PLC0415 - only a fleet worker needs redis

    return Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
                          health_check_interval=10)

