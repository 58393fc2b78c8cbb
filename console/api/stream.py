"""LiveStream: Knowlarity's live notification stream (SSE) as typed, deduplicated items.

    async with LiveStream.from_settings(settings, client=client, on_state=show) as stream:
        async for item in stream:          # CallEvent | Cdr | UnknownEvent
            ...

What it does, and why:

- Connects with httpx-sse to `/update-stream/{SR_API_KEY}/konnect` and yields each message
  typed as the CTI section documents it (`event_type` events, `type: "CDR"` records, anything
  else kept as UnknownEvent). A malformed message is logged (redacted) and skipped; it never
  ends the stream.
- Reconnects by itself with exponential backoff and jitter, and publishes its state
  (connecting, live, retrying in N s, failed: reason) through `on_state` and `.state`. A 401,
  403 or 404 is "failed" with a clear reason at once: a wrong key or URL does not fix itself,
  and hammering the server with it helps nobody.
- Deduplicates by (uuid, event type) in a bounded LRU: servers replay recent events on a
  reconnect, and the backfill below must not repeat what arrived live.
- After a reconnect it fills the gap from the call log through the REST client: records that
  started since the drop (minus a margin, and reaching back to the start of any call that was
  still open when the stream dropped) come out as `Cdr(backfilled=True)`, oldest first, minus
  those already seen. A supervisor misses no finished call.
- The URL carries the SR key, so it is registered with the redactor and never logged or
  shown unredacted (`repr`, state reasons and log lines all go through it).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse
from pydantic import SecretStr

from kcommon import logsafe
from kcommon.redact import Redactor, register_secret

from .backoff import RECONNECT, Backoff
from .bodies import MAX_ERROR_BODY_BYTES, read_capped
from .calllog import MAX_CALL_LOG_LIMIT, CallLogQuery, CallLogRecord
from .dedupe import RecentItems
from .errors import KnowlarityError, error_message
from .events import CallEvent, Cdr, StreamItem, parse_event
from .lenient_json import aloads
from .sse import MAX_EVENT_BYTES, MAX_LINE_BYTES, Oversize, bounded_sse

if TYPE_CHECKING:
    from console.config import ConsoleSettings

    from .client import KnowlarityClient

__all__ = ["LiveStream", "StreamState", "StreamStats", "StreamStatus"]

log = logging.getLogger(__name__)

StreamStatus = Literal["connecting", "live", "retrying", "failed"]
_STREAM_KEY = re.compile(r"/update-stream/([^/?#]+)")


def _seconds(value: float) -> str:
    """'3' for 3.2 s, '0.5' for half a second (the first retries after a drop are that short)."""
    return f"{value:.0f}" if value >= 1 else f"{value:.1f}"


@dataclass(frozen=True)
class StreamState:
    """Connection state for a status badge: `str(state)` is the text to show."""

    status: StreamStatus
    retry_in: float | None = None
    reason: str | None = None
    attempt: int = 0

    def __str__(self) -> str:
        if self.status == "retrying":
            text = f"retrying in {_seconds(self.retry_in)} s" if self.retry_in is not None else "retrying"
            return f"{text} ({self.reason})" if self.reason else text
        if self.status == "failed":
            return f"failed: {self.reason or 'unknown error'}"
        return self.status


@dataclass
class StreamStats:
    """Counters for the console's status line and for tests."""

    received: int = 0
    duplicates: int = 0
    malformed: int = 0
    oversize: int = 0  # of the malformed: dropped unread, past the line or event size cap
    backfilled: int = 0
    connects: int = 0
    drops: int = 0
    last_event_at: datetime | None = None
    last_backfill_error: str | None = None


def _require_event_stream(response: httpx.Response) -> None:
    content_type = response.headers.get("content-type", "").partition(";")[0]
    if "text/event-stream" not in content_type:
        raise SSEError(f"Expected response header Content-Type to contain 'text/event-stream', got {content_type!r}")


class _Fatal(Exception):
    """A failure that reconnecting cannot fix (bad key, wrong URL)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LiveStream:
    """Async-iterable live stream of `CallEvent | Cdr | UnknownEvent` (see module docstring).

    `url` is the full stream URL, or a template containing `{sr_api_key}` filled from
    `sr_api_key`. `client` (a KnowlarityClient) enables the call-log backfill. `sleep`,
    `now` and `rng` are injectable so tests of backoff and backfill run instantly.
    """

    def __init__(
        self,
        url: str | SecretStr,
        *,
        client: KnowlarityClient | None = None,
        sr_api_key: str | SecretStr | None = None,
        on_state: Callable[[StreamState], Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        connect_timeout: float = 10.0,
        idle_timeout: float | None = None,
        backoff: Backoff | None = None,
        max_retries: int | None = None,
        dedupe_size: int = 10_000,
        backfill: bool = True,
        backfill_margin: float = 30.0,
        backfill_max_age: float = 2 * 3600.0,
        backfill_max_pages: int = 10,
        stable_after: float = 30.0,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_event_bytes: int = MAX_EVENT_BYTES,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        now: Callable[[], datetime] = _utcnow,
        rng: Callable[[], float] = random.random,
    ) -> None:
        text = url.get_secret_value() if isinstance(url, SecretStr) else str(url)
        key = sr_api_key.get_secret_value() if isinstance(sr_api_key, SecretStr) else sr_api_key
        if "{sr_api_key}" in text:
            if not key:
                raise ValueError("the stream URL needs the SR API key")
            text = text.replace("{sr_api_key}", key)
        if not text.startswith(("http://", "https://")):
            raise ValueError("the stream URL must start with http:// or https://")
        self._redact = Redactor([key])
        register_secret(key)
        if match := _STREAM_KEY.search(text):
            self._redact.add(match.group(1))
            register_secret(match.group(1))
        logsafe.install()
        self._url = text
        self._client = client
        self._on_state = on_state
        self._backoff = backoff or RECONNECT  # short retries first: a 20 s outage costs ~20 s, not 45
        self._max_retries = max_retries
        self._backfill_enabled = backfill
        self._backfill_margin = timedelta(seconds=max(0.0, backfill_margin))
        self._backfill_max_age = timedelta(seconds=max(60.0, backfill_max_age))
        self._backfill_max_pages = max(1, backfill_max_pages)
        self._stable_after = timedelta(seconds=max(0.0, stable_after))
        self._max_line = max(1024, max_line_bytes)
        self._max_event = max(self._max_line, max_event_bytes)
        self._sleep = sleep
        self._now = now
        self._rng = rng
        self._timeout = httpx.Timeout(connect=connect_timeout, read=idle_timeout, write=10.0, pool=10.0)
        self._http = httpx.AsyncClient(transport=transport, timeout=self._timeout, follow_redirects=False)
        self.delivered = RecentItems(dedupe_size)  # what was delivered, so a replay is not delivered again
        self._open_calls: OrderedDict[str, datetime] = OrderedDict()
        self._state = StreamState("connecting")
        self._closed = False
        self._running = False
        self._gen: AsyncGenerator[StreamItem, None] | None = None
        self.stats = StreamStats()

    @classmethod
    def from_settings(cls, settings: ConsoleSettings, **kwargs: Any) -> LiveStream:
        """Stream of the configured account; raises ConfigError naming a missing key."""
        settings.require_credentials()
        return cls(settings.stream_url, sr_api_key=settings.sr_api_key, **kwargs)

    # -- public surface --------------------------------------------------------------------------

    @property
    def state(self) -> StreamState:
        return self._state

    @property
    def display_url(self) -> str:
        """The stream URL with the key hidden, safe to show."""
        return self._redact(self._url)

    def __repr__(self) -> str:
        return f"LiveStream(url={self.display_url!r}, state={str(self._state)!r})"

    def __aiter__(self) -> AsyncIterator[StreamItem]:
        if self._running:
            raise RuntimeError("this LiveStream is already being iterated")
        self._gen = self._run()
        return self._gen

    async def __aenter__(self) -> LiveStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: the iteration ends, the connection is closed."""
        self._closed = True
        gen, self._gen = self._gen, None
        if gen is not None and not getattr(gen, "ag_running", False):
            await gen.aclose()  # suspended at a yield: finish it here, not in a finalizer
        await self._http.aclose()  # a reader blocked in another task sees this and ends

    # -- state -----------------------------------------------------------------------------------

    def _publish(self, state: StreamState) -> None:
        if state.reason:
            state = StreamState(state.status, state.retry_in, self._redact(state.reason), state.attempt)
        self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:  # a broken observer must not stop the stream
                log.exception("stream state observer failed")

    # -- the loop --------------------------------------------------------------------------------

    async def _run(self) -> AsyncGenerator[StreamItem, None]:
        self._running = True
        failures = 0
        gap_start: datetime | None = None
        try:
            while not self._closed:
                self._publish(StreamState("connecting", attempt=failures))
                reason = "the stream ended"
                connected_at: datetime | None = None
                received_before = self.stats.received
                try:
                    async with aconnect_sse(self._http, "GET", self._url) as source:
                        await self._check_response(source.response)
                        connected_at = self._now()
                        self.stats.connects += 1
                        self._publish(StreamState("live"))
                        if gap_start is not None:
                            async for item in self._backfill(gap_start):
                                yield item
                            gap_start = None
                        _require_event_stream(source.response)
                        async for sse in bounded_sse(source.response.aiter_bytes(), max_line=self._max_line,
                                                     max_event=self._max_event):
                            if isinstance(sse, Oversize):
                                self.stats.malformed += 1
                                self.stats.oversize += 1
                                log.warning("skipped a stream message of %d bytes or more (the limit is %d)",
                                            sse.size, self._max_event)
                                continue
                            accepted = await self._accept(sse)
                            if accepted is not None:
                                yield accepted
                except _Fatal as exc:
                    self._publish(StreamState("failed", reason=str(exc)))
                    return
                except httpx.TimeoutException as exc:
                    reason = ("connection timed out" if isinstance(exc, httpx.ConnectTimeout)
                              else "no data within the idle timeout")
                except SSEError as exc:  # (a TransportError subclass: catch it first)
                    reason = f"not an event stream: {self._redact(exc)}"
                except httpx.TransportError as exc:
                    reason = self._redact(str(exc)) or type(exc).__name__
                except Exception:
                    if self._closed:
                        return
                    raise
                if self._closed:
                    return
                self.stats.drops += 1
                dropped_at = self._now()
                if gap_start is None:
                    gap_start = dropped_at
                if connected_at is not None and (
                    self.stats.received > received_before or dropped_at - connected_at >= self._stable_after
                ):
                    failures = 0  # it worked for a while: start the backoff over
                failures += 1
                if self._max_retries is not None and failures > self._max_retries:
                    self._publish(StreamState("failed", reason=f"gave up after {failures} attempts: {reason}"))
                    return
                delay = self._backoff.delay(failures, self._rng())
                log.info("live stream %s: %s; reconnecting in %.1f s", self.display_url, reason, delay)
                self._publish(StreamState("retrying", retry_in=delay, reason=reason, attempt=failures))
                await self._sleep(delay)
        finally:
            self._running = False

    async def _check_response(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        try:
            body = (await read_capped(response, MAX_ERROR_BODY_BYTES)).decode("utf-8", errors="replace")
        except httpx.HTTPError:
            body = ""
        try:
            message = error_message(await aloads(body)) if body.strip() else ""
        except ValueError:
            message = " ".join(body.split())[:200]
        detail = f": {self._redact(message)}" if message else ""
        if status in (401, 403):
            raise _Fatal(f"the stream refused the SR API key (HTTP {status}){detail}")
        if status == 404:
            raise _Fatal(f"no stream at this URL (HTTP 404){detail}; check KNOWLARITY_STREAM_URL")
        if 400 <= status < 500 and status not in (408, 429):
            raise _Fatal(f"the stream refused the request (HTTP {status}){detail}")
        raise httpx.RemoteProtocolError(f"HTTP {status}{detail}")

    async def _accept(self, sse: ServerSentEvent) -> StreamItem | None:
        data = sse.data.strip()
        if not data:
            return None  # keep-alive
        received_at = self._now()
        try:
            item = parse_event(await aloads(data), received_at=received_at)
        except ValueError as exc:
            self.stats.malformed += 1
            snippet = " ".join(data.split())[:120]
            log.warning("skipped a malformed stream message (%s): %s", exc, self._redact(snippet))
            return None
        self.stats.received += 1
        self.stats.last_event_at = received_at
        if self.delivered.seen_before(item):
            self.stats.duplicates += 1
            return None
        self._track(item)
        return item

    def _track(self, item: StreamItem) -> None:
        """Remember calls in progress, so a backfill reaches back to their start."""
        if isinstance(item, Cdr) and item.uuid:
            self._open_calls.pop(item.uuid, None)
        elif isinstance(item, CallEvent) and item.uuid and item.uuid not in self._open_calls:
            self._open_calls[item.uuid] = item.received_at or self._now()
            while len(self._open_calls) > 2048:
                self._open_calls.popitem(last=False)

    # -- backfill ----------------------------------------------------------------------------------

    def backfill_window(self, gap_start: datetime) -> tuple[datetime, datetime]:
        """(start, end) of the call-log query that fills a gap that began at `gap_start`."""
        now = self._now()
        oldest = now - self._backfill_max_age
        start = gap_start
        for first_seen in self._open_calls.values():
            if oldest <= first_seen < start:
                start = first_seen
        start = max(start - self._backfill_margin, oldest)
        return start, now + self._backfill_margin

    async def _backfill(self, gap_start: datetime) -> AsyncIterator[Cdr]:
        if not (self._backfill_enabled and self._client is not None):
            return
        start, end = self.backfill_window(gap_start)
        records: list[CallLogRecord] = []
        try:
            query = CallLogQuery(start_time__gt=start, start_time__lt=end, limit=MAX_CALL_LOG_LIMIT)
            async for page in self._client.iter_call_log(query, max_pages=self._backfill_max_pages):
                records.extend(page.objects)
        except (KnowlarityError, ValueError) as exc:
            self.stats.last_backfill_error = self._redact(exc)
            log.warning("could not fill the stream's gap from the call log: %s", self.stats.last_backfill_error)
            return
        self.stats.last_backfill_error = None
        far_future = datetime.max.replace(tzinfo=UTC)
        records = [r for r in records if r.uuid and (r.start_time is None or r.start_time >= start)]
        records.sort(key=lambda r: r.start_time or far_future)
        for record in records:
            cdr = Cdr.from_call_log(record)
            cdr.received_at = self._now()
            if self.delivered.seen_before(cdr):
                continue
            self._track(cdr)
            self.stats.backfilled += 1
            yield cdr

