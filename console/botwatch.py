"""Watching a voice bot: one small interface over the in-process bus and `/monitor`.

The Bot view does not care where a bot runs. `BotWatcher` yields `voice.bus` events and
sends supervisor commands; two implementations:

- `BusWatcher`: the bot runs in this process (the demo): subscribe to its EventBus.
- `MonitorWatcher`: the bot runs elsewhere: its `/monitor` WebSocket carries the same
  events as JSON and takes the same commands. It reconnects with backoff, reports its
  connection state like the live stream does, and re-asks for audio after a reconnect.

Listening is opt-in per call (audio is heavy): `listen(call_id, on)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr, ValidationError

from console.state import FeedStatus
from kcommon.backoff import RECONNECT, Backoff
from kcommon.redact import Redactor
from voice.bus import EventBus, ListenCommand, MonitorCommand, MonitorEvent, Subscription, parse_monitor_event

log = logging.getLogger("console.botwatch")

OnState = Callable[[FeedStatus], None]


class BotWatcher(Protocol):
    description: str

    def events(self, on_state: OnState | None = None) -> AsyncIterator[MonitorEvent]:
        """Every session event, for as long as the watcher is open."""
        ...

    async def send(self, command: MonitorCommand) -> str | None:
        """Deliver a command; None on success, else the reason it failed."""
        ...

    async def listen(self, call_id: str, on: bool) -> str | None:
        ...

    async def aclose(self) -> None:
        ...


class BusWatcher:
    """The bot in this process: a subscription to its EventBus."""

    def __init__(self, bus: EventBus, *, maxsize: int = 20_000) -> None:
        self.bus = bus
        self.description = "in-process bot"
        self._maxsize = maxsize
        self._sub: Subscription | None = None
        self._listening: set[str] = set()

    async def events(self, on_state: OnState | None = None) -> AsyncIterator[MonitorEvent]:
        sub = self.bus.subscribe(maxsize=self._maxsize)
        sub.audio_calls.update(self._listening)
        self._sub = sub
        if on_state is not None:
            on_state(FeedStatus("live", since=time.time()))
        try:
            async for event in sub:
                yield event
        finally:
            sub.close()
            self._sub = None

    async def send(self, command: MonitorCommand) -> str | None:
        try:
            return await self.bus.send_command(command)
        except Exception as exc:  # noqa: BLE001 - a command failure is a message, not a crash
            return f"the bot could not do that: {exc}"

    async def listen(self, call_id: str, on: bool) -> str | None:
        (self._listening.add if on else self._listening.discard)(call_id)
        if self._sub is not None:
            (self._sub.audio_calls.add if on else self._sub.audio_calls.discard)(call_id)
        return None

    async def aclose(self) -> None:
        if self._sub is not None:
            self._sub.close()


def _with_token(url: str, token: str | None) -> str:
    if not token:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"] + [("token", token)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


class MonitorWatcher:
    """A bot elsewhere, through its token-protected `/monitor` WebSocket."""

    def __init__(
        self,
        url: str,
        *,
        token: str | SecretStr | None = None,
        backoff: Backoff = RECONNECT,
        reply_timeout: float = 5.0,
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError("the bot monitor URL must start with ws:// or wss://")
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        self._url = _with_token(url, secret)
        self._redact = Redactor([secret])
        self.description = self._redact(url)
        self._backoff = backoff
        self._reply_timeout = reply_timeout
        self._ws: Any = None
        self._listening: set[str] = set()
        self._closed = False
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue(100)

    async def events(self, on_state: OnState | None = None) -> AsyncIterator[MonitorEvent]:
        from websockets.asyncio.client import connect  # noqa: PLC0415 - only this watcher needs it
        from websockets.exceptions import InvalidStatus, WebSocketException  # noqa: PLC0415 - websockets only when a bot is watched

        def publish(status: FeedStatus) -> None:
            if on_state is not None:
                on_state(status)

        attempt = 0
        while not self._closed:
            publish(FeedStatus("connecting", since=time.time()))
            try:
                async with connect(self._url, max_size=4 * 1024 * 1024, open_timeout=10) as ws:
                    self._ws = ws
                    attempt = 0
                    publish(FeedStatus("live", since=time.time()))
                    for call_id in tuple(self._listening):
                        await ws.send(ListenCommand(call_id=call_id, on=True).model_dump_json())
                    async for raw in ws:
                        event = self._parse(raw)
                        if event is not None:
                            yield event
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403, 404):
                    reason = "the monitor token was refused" if status != 404 else "no /monitor at that URL"
                    publish(FeedStatus("failed", reason=reason, since=time.time()))
                    return
                reason = f"HTTP {status}"
            except (TimeoutError, OSError, WebSocketException) as exc:
                reason = self._redact(str(exc) or type(exc).__name__)
            finally:
                self._ws = None
            if self._closed:
                return
            attempt += 1
            delay = self._backoff.delay(attempt, random.random())
            publish(FeedStatus("retrying", retry_in=delay, reason=reason, since=time.time()))
            await asyncio.sleep(delay)

    def _parse(self, raw: str | bytes) -> MonitorEvent | None:
        try:
            return parse_monitor_event(raw)
        except ValidationError:
            pass
        # Not an event: a reply to a command ({"ok": ..., "error": ...}) or noise.
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            log.info("ignored an unreadable monitor frame")
            return None
        if isinstance(data, dict) and ("ok" in data or "error" in data):
            if self._replies.full():
                self._replies.get_nowait()  # an old, unclaimed reply (a listen toggle)
            self._replies.put_nowait(data)
        return None

    async def send(self, command: MonitorCommand) -> str | None:
        """Send a command and wait for its `command_result` reply frame."""
        ws = self._ws
        if ws is None:
            return "not connected to the bot's monitor"
        try:
            await ws.send(command.model_dump_json())
        except Exception as exc:  # noqa: BLE001 - any socket failure is shown as one line
            return f"could not reach the bot: {self._redact(exc)}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reply_timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return None  # sent; the bot did not answer in time, its events will tell
            try:
                reply = await asyncio.wait_for(self._replies.get(), left)
            except TimeoutError:
                return None
            if reply.get("command") not in (None, command.command) or reply.get("call_id") not in (None, command.call_id):
                continue  # the reply to another command (a listen toggle)
            if reply.get("ok") is False or reply.get("error"):
                return str(reply.get("error") or "the bot refused the command")
            return None

    async def listen(self, call_id: str, on: bool) -> str | None:
        (self._listening.add if on else self._listening.discard)(call_id)
        ws = self._ws
        if ws is None:
            return None if not on else "not connected to the bot's monitor yet; listening starts when it is"
        try:
            await ws.send(ListenCommand(call_id=call_id, on=on).model_dump_json())
        except Exception as exc:  # noqa: BLE001 - any socket failure is shown as one line
            return f"could not reach the bot: {self._redact(exc)}"
        return None

    async def aclose(self) -> None:
        self._closed = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
