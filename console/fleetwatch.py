"""Watching a bot fleet through Redis: every call of every worker, commands to each call's owner.

`FleetWatcher` is a `BotWatcher` (see console.botwatch), so the Bot view shows a fleet the
way it shows one bot. What it adds:

- **Joining late.** On (re)connect it reads which calls are live and where their stream
  entries begin (`{p}:calls`), replays the events stream from the oldest of them, then
  follows it with XREAD. A supervisor opening the console mid-call sees the transcript so
  far; after a Redis outage it carries on from the last entry it read.
- **Workers.** Heartbeats (`WorkerStatus`) arrive in the same stream. A worker not heard for
  `lost_after_s` is reported lost, and each of its live calls ends with reason
  "lost: worker W stopped answering" — the other workers' calls are not touched. Silence is
  measured on this console's clock, so clock skew between machines does not matter.
- **Commands to the owner.** transfer / hang up / say go to the owning worker's command
  stream and wait for its one reply; a call that has ended or whose worker is gone is
  refused with the reason, and a worker that does not answer in time is a clear timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from console.state import FeedStatus
from kcommon.backoff import RECONNECT
from voice.bus import CallEnded, CallStarted, MonitorCommand, MonitorEvent, WorkerStatus, parse_monitor_event
from voice.fleet.streams import LOST_AFTER_S, FleetKeys, check_bus_url, describe_bus_url, loads

log = logging.getLogger("console.fleetwatch")

OnState = Callable[[FeedStatus], None]
REPLAY_CHUNK = 1000


@dataclass(slots=True)
class WorkerSeen:
    worker: str
    heard: float                        # monotonic time of the last heartbeat (this console's clock)
    status: WorkerStatus
    calls: set[str] = field(default_factory=set)
    lost: bool = False


class FleetWatcher:
    """The fleet's calls from Redis Streams; implements console.botwatch.BotWatcher."""

    def __init__(
        self,
        url: str,
        *,
        keys: FleetKeys | None = None,
        lost_after_s: float = LOST_AFTER_S,
        reply_timeout: float = 3.0,
        redis_factory: Callable[[str], Any] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = check_bus_url(url)
        self.keys = keys or FleetKeys()
        self.description = f"fleet bus {describe_bus_url(url)}"
        self.lost_after_s = lost_after_s
        self.reply_timeout = reply_timeout
        self._factory = redis_factory or _default_redis
        self._redis: Any = None
        self._monotonic = monotonic
        self.workers: dict[str, WorkerSeen] = {}
        self.owner: dict[str, str] = {}       # live call id -> worker id
        self.ended: set[str] = set()
        self._last_id = "0-0"
        self._closed = False
        self.received = 0

    # ---- events ------------------------------------------------------------------------------

    async def events(self, on_state: OnState | None = None) -> AsyncIterator[MonitorEvent]:
        def publish(status: FeedStatus) -> None:
            if on_state is not None:
                on_state(status)

        attempt = 0
        first = True
        while not self._closed:
            publish(FeedStatus("connecting", since=time.time()))
            try:
                if self._redis is None:
                    self._redis = self._factory(self.url)
                if first:
                    async for replayed in self._replay():
                        yield replayed
                    first = False
                publish(FeedStatus("live", since=time.time()))
                attempt = 0
                while not self._closed:
                    reply = await self._redis.xread({self.keys.events: self._last_id}, block=500, count=REPLAY_CHUNK)
                    for _name, entries in reply or ():
                        for entry_id, fields in entries:
                            self._last_id = entry_id
                            decoded = self._decode(fields)
                            if decoded is not None:
                                yield decoded
                    for event in self._check_lost():
                        yield event
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down or unreachable: say so, retry
                if self._closed:
                    return
                attempt += 1
                delay = RECONNECT.delay(attempt, random.random())
                publish(FeedStatus("retrying", retry_in=delay, reason=_why(exc), since=time.time()))
                # While the bus is down, no heartbeat can arrive: that says nothing about the
                # workers, so their silence is not counted against them.
                for seen in self.workers.values():
                    seen.heard = self._monotonic() + delay
                await asyncio.sleep(delay)

    async def _replay(self) -> AsyncIterator[MonitorEvent]:
        """The live calls' events so far, oldest first; then `_last_id` is where to follow from."""
        r = self._redis
        newest = await r.xrevrange(self.keys.events, count=1)
        end_id = newest[0][0] if newest else "0-0"
        alive = set()
        for key in [k async for k in r.scan_iter(match=self.keys.worker_pattern, count=500)]:
            data = await r.get(key)
            if data:
                alive.add(key.rsplit(":", 1)[-1])
                try:
                    status = parse_monitor_event(data)
                except ValidationError:
                    continue
                if isinstance(status, WorkerStatus):
                    self._heard(status)
                    yield status
        calls = await r.hgetall(self.keys.calls)
        starts: list[str] = []
        stale: list[str] = []
        live_calls: set[str] = set()
        for call_id, raw in calls.items():
            info = loads(raw) or {}
            worker, since = str(info.get("worker", "")), str(info.get("since", ""))
            if worker in alive and since:
                starts.append(since)
                live_calls.add(call_id)
            else:
                stale.append(call_id)
        if stale:  # calls of workers that died without ending them: nobody else cleans up
            with contextlib.suppress(Exception):
                await r.hdel(self.keys.calls, *stale)
        self._last_id = end_id
        if not starts:
            return
        cursor = min(starts, key=_id_key)
        while True:
            entries = await r.xrange(self.keys.events, min=cursor, max=end_id, count=REPLAY_CHUNK)
            for _entry_id, fields in entries:
                event = self._decode(fields, only=live_calls)
                if event is not None:
                    yield event
            if len(entries) < REPLAY_CHUNK:
                break
            cursor = "(" + entries[-1][0]

    def _decode(self, fields: dict[str, str], only: set[str] | None = None) -> MonitorEvent | None:
        raw = fields.get("e")
        if raw is None:
            return None
        try:
            event = parse_monitor_event(raw)
        except ValidationError:
            log.info("ignored an unreadable fleet event")
            return None
        worker = fields.get("w") or event.worker
        event.worker = worker
        if isinstance(event, WorkerStatus):
            self._heard(event)
            return event
        if only is not None and event.call_id not in only and event.call_id != "*":
            return None
        self.received += 1
        if worker:
            self._touch(worker)
        if isinstance(event, CallStarted):
            self.owner[event.call_id] = worker
            self.ended.discard(event.call_id)
            seen = self.workers.get(worker)
            if seen is not None:
                seen.calls.add(event.call_id)
        elif isinstance(event, CallEnded):
            self.owner.pop(event.call_id, None)
            self.ended.add(event.call_id)
            if len(self.ended) > 10_000:
                self.ended.clear()
            seen = self.workers.get(worker)
            if seen is not None:
                seen.calls.discard(event.call_id)
        elif event.call_id != "*" and event.call_id not in self.owner and event.call_id not in self.ended:
            self.owner[event.call_id] = worker
        return event

    def _touch(self, worker: str) -> None:
        """Any event from a worker proves it is alive (its first heartbeat may still be on the way)."""
        seen = self.workers.get(worker)
        if seen is None:
            self.workers[worker] = WorkerSeen(worker, self._monotonic(), WorkerStatus(call_id="*", worker=worker))
        elif not seen.lost:
            seen.heard = self._monotonic()

    def _heard(self, status: WorkerStatus) -> None:
        seen = self.workers.get(status.worker)
        now = self._monotonic()
        if seen is None:
            seen = self.workers[status.worker] = WorkerSeen(status.worker, now, status)
        seen.heard, seen.status = now, status
        seen.lost = False
        seen.calls = set(status.live_calls)
        for call_id in status.live_calls:
            if call_id not in self.ended:
                self.owner.setdefault(call_id, status.worker)
        if status.state == "stopped":
            self.workers.pop(status.worker, None)

    def _check_lost(self) -> list[MonitorEvent]:
        out: list[MonitorEvent] = []
        now = self._monotonic()
        for seen in list(self.workers.values()):
            if seen.lost or now - seen.heard < self.lost_after_s:
                continue
            seen.lost = True
            silent = now - seen.heard
            out.append(seen.status.model_copy(update={"state": "lost", "ts": time.time()}))
            calls = {c for c, w in self.owner.items() if w == seen.worker} | seen.calls
            for call_id in sorted(calls):
                if call_id in self.ended:
                    continue
                self.owner.pop(call_id, None)
                self.ended.add(call_id)
                why = f"lost: worker {seen.worker} stopped answering ({silent:.0f} s)"
                out.append(CallEnded(call_id=call_id, worker=seen.worker, reason=why, outcome="error", detail=why))
        return out

    # ---- commands ----------------------------------------------------------------------------

    async def send(self, command: MonitorCommand) -> str | None:
        call_id = command.call_id
        if call_id in self.ended:
            return f"call {call_id} has ended"
        worker = self.owner.get(call_id)
        if worker is None:
            return f"no live call {call_id} in the fleet"
        seen = self.workers.get(worker)
        if seen is not None and seen.lost:
            return f"worker {worker} is gone (no heartbeat for {self._monotonic() - seen.heard:.0f} s)"
        if self._redis is None:
            return "not connected to the fleet bus"
        request = uuid.uuid4().hex
        try:
            await self._redis.xadd(
                self.keys.commands(worker),
                {"rid": request, "c": command.model_dump_json(), "deadline": f"{time.time() + self.reply_timeout:.3f}"},
                maxlen=1000, approximate=True,
            )
            reply = await self._redis.blpop([self.keys.reply(request)], timeout=self.reply_timeout)
        except Exception as exc:  # noqa: BLE001 - any Redis failure is shown as one line
            return f"the fleet bus is unreachable: {_why(exc)}"
        if reply is None:
            return f"worker {worker} did not acknowledge within {self.reply_timeout:g} s"
        data = loads(reply[1]) or {}
        if data.get("ok"):
            return None
        return str(data.get("error") or f"worker {worker} refused the command")

    async def listen(self, call_id: str, on: bool) -> str | None:
        if not on:
            return None
        worker = self.owner.get(call_id, "the worker")
        return (f"audio does not travel on the fleet bus: watch {worker}'s own feed with "
                "kconsole --bot ws://WORKER:PORT/monitor to listen")

    async def aclose(self) -> None:
        self._closed = True
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    def fleet_line(self) -> str:
        """e.g. "2 workers · 37 live calls · bot-a 18 calls 0.41 load 3 ms lag 0.4 s ago"."""
        now = self._monotonic()
        parts = []
        for seen in sorted(self.workers.values(), key=lambda s: s.worker):
            s = seen.status
            age = now - seen.heard
            state = "LOST" if seen.lost else s.state
            parts.append(f"{seen.worker} {state} {len(s.live_calls)} calls {s.load:.2f} load "
                         f"{s.loop_lag_ms:.0f} ms lag {age:.1f} s ago")
        return " | ".join(parts)


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:160] if text else type(exc).__name__


def _default_redis(url: str) -> Any:
    from redis.asyncio import Redis  # noqa: PLC0415 - only a fleet console needs redis

    return Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2)

