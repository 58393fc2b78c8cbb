"""Redis key names and the encoding of what the fleet writes there.

One prefix (default ``kconsole``) namespaces everything, so several fleets can share a
Redis database:

===============================  ==========================================================
``{p}:events``                   Stream: every monitor event of every call (fields ``w`` =
                                 worker id, ``e`` = the event's JSON), MAXLEN ~ bounded.
                                 Heartbeats are events too (`WorkerStatus`), so a console
                                 reads one stream, in order.
``{p}:calls``                    Hash: live call id -> ``{"worker", "since"}`` where
                                 ``since`` is the stream id of its CallStarted: a console
                                 that joins late replays each live call from there.
``{p}:worker:{id}``              String with a TTL: the worker's last heartbeat (JSON).
``{p}:cmd:{id}``                 Stream: supervisor commands for that worker.
``{p}:reply:{request}``          List with a TTL: the worker's one reply to a command.
``{p}:recordings``               Hash: call id -> ``{"worker", "dir", "outcome", "who", "ended"}``.
===============================  ==========================================================
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PREFIX = "kconsole"
EVENTS_MAXLEN = 100_000          # approximate (~): trimming whole macro nodes is O(1)
HEARTBEAT_S = 1.0
WORKER_TTL_S = 10                 # the worker key outlives a few missed heartbeats
LOST_AFTER_S = 3.5                # a console calls a worker lost after this much silence
REPLY_TTL_S = 30


@dataclass(frozen=True, slots=True)
class FleetKeys:
    prefix: str = DEFAULT_PREFIX

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def calls(self) -> str:
        return f"{self.prefix}:calls"

    @property
    def recordings(self) -> str:
        return f"{self.prefix}:recordings"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def worker_pattern(self) -> str:
        return f"{self.prefix}:worker:*"

    def commands(self, worker_id: str) -> str:
        return f"{self.prefix}:cmd:{worker_id}"

    def reply(self, request_id: str) -> str:
        return f"{self.prefix}:reply:{request_id}"


def default_worker_id() -> str:
    """host-pid: unique per process, readable in the console's worker column."""
    return f"{socket.gethostname().split('.')[0]}-{os.getpid()}"


def check_bus_url(url: str) -> str:
    """Accept redis:// / rediss:// / unix:// URLs; a clear ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError("the bus URL must look like redis://HOST:PORT/DB (or rediss://, unix://)")
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError("the bus URL needs a host: redis://HOST:PORT/DB")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("the bus URL's port is not a number") from None
    return url


def describe_bus_url(url: str) -> str:
    """The URL without its password, for banners and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def loads(raw: str | bytes | None) -> dict[str, Any] | None:
    """Parse one JSON object written by the fleet; None for anything else (never raises)."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None
