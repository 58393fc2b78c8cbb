"""Prometheus metrics of one bot worker (prometheus-client), fed from its in-process bus.

Names (all prefixed ``kconsole_bot_``; documented in README's "Running a fleet"):

=====================================  =========  ==================================================
``live_calls``                         gauge      calls this worker holds now
``calls_total{outcome}``               counter    finished calls by outcome: caller_hangup, bot_ended,
                                                  supervisor_hangup, transferred, error, other
``greeting_seconds``                   histogram  metadata -> first greeting playAudio
``barge_in_seconds``                   histogram  caller speech onset -> killAudio
``turn_seconds``                       histogram  caller stopped -> first reply playAudio
``provider_errors_total{component}``   counter    warnings and errors logged by a provider (DEEPGRAM,
                                                  OPENAI, CARTESIA, ESPEAK, POCKETSPHINX, ...)
``event_loop_lag_seconds``             histogram  how late a 50 ms timer fires: the overload signal
``bus_events_dropped_total``           counter    fleet events this worker could not deliver
=====================================  =========  ==================================================

Each worker has its own registry (tests run several in one process) and serves it on
`--metrics-port` from prometheus-client's own HTTP thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from voice.bus import BargeIn, CallEnded, EventBus, TurnMetrics

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)
LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
NOT_PROVIDERS = {"KNOWLARITY", "BOT", "VAD", "MONITOR", "SERVER", "FLEET", "-"}


def outcome_of(event: CallEnded) -> str:
    """A CallEnded -> its outcome label: the typed outcome the session recorded (a small,
    fixed set: labels must not grow without bound). Only an event from an older peer, with
    no outcome, is read from its words."""
    if event.outcome != "unknown":
        return event.outcome
    r = event.reason.lower()
    if r.startswith("transferred") or "transfer" in r:
        return "transferred"
    if "supervisor" in r:
        return "supervisor_hangup"
    if "caller hung up" in r or r == "hangup":
        return "caller_hangup"
    if r.startswith("bot") or "goodbye" in r or "end_call" in r:
        return "bot_ended"
    if "error" in r or "internal" in r or "lost" in r:
        return "error"
    return "unknown"


class WorkerMetrics:
    """The metrics of one worker; `attach(bus)` starts counting, `serve(port)` exposes them."""

    def __init__(self, live_calls: Callable[[], int], registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.live = Gauge("kconsole_bot_live_calls", "Calls this worker holds now", registry=r)
        self.live.set_function(lambda: float(live_calls()))
        self.calls = Counter("kconsole_bot_calls", "Finished calls by outcome", ["outcome"], registry=r)
        self.greeting = Histogram("kconsole_bot_greeting_seconds", "Metadata to first greeting audio",
                                  buckets=LATENCY_BUCKETS, registry=r)
        self.barge_in = Histogram("kconsole_bot_barge_in_seconds", "Caller speech onset to killAudio",
                                  buckets=LATENCY_BUCKETS, registry=r)
        self.turn = Histogram("kconsole_bot_turn_seconds", "Caller stopped to first reply audio",
                              buckets=LATENCY_BUCKETS, registry=r)
        self.provider_errors = Counter("kconsole_bot_provider_errors", "Warnings/errors logged by a provider",
                                       ["component"], registry=r)
        self.loop_lag = Histogram("kconsole_bot_event_loop_lag_seconds", "Lateness of a 50 ms timer",
                                  buckets=LAG_BUCKETS, registry=r)
        self.bus_dropped = Counter("kconsole_bot_bus_events_dropped", "Fleet events not delivered", registry=r)
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._handler = _ProviderErrorCounter(self.provider_errors)
        self._server: Any = None

    def observe(self, event: object) -> None:
        if isinstance(event, CallEnded):
            self.calls.labels(outcome_of(event)).inc()
        elif isinstance(event, BargeIn):
            self.barge_in.observe(event.latency_ms / 1000.0)
        elif isinstance(event, TurnMetrics):
            if event.turn == 0 and event.greeting_ms is not None:
                self.greeting.observe(event.greeting_ms / 1000.0)
            elif event.total_ms is not None:
                self.turn.observe(event.total_ms / 1000.0)

    def attach(self, bus: EventBus) -> None:
        self._sub = bus.subscribe(maxsize=10_000)
        self._task = asyncio.create_task(self._follow(), name="metrics")
        logging.getLogger("voice").addHandler(self._handler)

    async def _follow(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            async for event in self._sub:
                self.observe(event)

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics on a thread; returns the port (0 picks a free one)."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_address[1])

    def close(self) -> None:
        logging.getLogger("voice").removeHandler(self._handler)
        if self._task is not None:
            self._task.cancel()
        if self._sub is not None:
            self._sub.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _ProviderErrorCounter(logging.Handler):
    """Counts WARNING+ call-log records whose component is a provider (see voice.logs.CallLog)."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(logging.WARNING)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        component = str(getattr(record, "component", "") or "").upper()
        if component and component not in NOT_PROVIDERS:
            self.counter.labels(component[:20]).inc()
