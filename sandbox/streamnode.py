"""The sandbox's Stream Node: inbound calls to the bot number, played by scripted callers.

On the real service, a call to a number whose IVR has a Stream Node makes Knowlarity
open a WebSocket to the bot and stream the caller's voice. In the sandbox, this module
does that part: `StreamNode.place_call(call_info, conversation)` dials the bot's URL
with `voice.caller` (the same emulator as `kconsole call`), sends the call's metadata,
and speaks one of the demo conversations (`sandbox.conversations`) in real time, with
Knowlarity's rule enforced: a bot that sends no audio within a few seconds is cut.

`attach_to_sandbox(server, bot_url)` registers the node as the SandboxServer's
inbound-bot hook, so every inbound call to the account's bot number — from the
background traffic, `place_inbound_call` or the `/_sandbox/inbound-call` hook — is
played by a random demo caller. The sandbox keeps the call up (ORIGINATE ... HANGUP,
CDR) for exactly as long as the conversation lasts.

Concurrency is bounded: at most `max_concurrent` conversations run at once and at most
`max_waiting` more wait for a slot; beyond that a call is refused at once (its report
says so) rather than piling up — a demo box has two cores, not a call centre's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from sandbox.conversations import DEMO_CONVERSATIONS
from voice.caller import (
    Caller,
    CallerError,
    CallerEvent,
    CallerOptions,
    CallReport,
    Conversation,
    SpeechSynth,
    default_tts,
    redact_url,
    render_speech,
)
from voice.protocol import CallMetadata

log = logging.getLogger("sandbox.streamnode")

EventCallback = Callable[[str, CallerEvent], None]
ReportCallback = Callable[[CallReport], None]


class CachedSpeech:
    """A TTS wrapper that renders each (line, rate) once: demo callers repeat themselves."""

    name = "cached"

    def __init__(self, tts: SpeechSynth, *, max_items: int = 256) -> None:
        self.tts = tts
        self.max_items = max_items
        self._cache: dict[tuple[str, int], bytes] = {}
        self._lock = asyncio.Lock()

    async def synthesize(self, text: str, *, sample_rate: int) -> AsyncIterator[bytes]:
        key = (text, sample_rate)
        pcm = self._cache.get(key)
        if pcm is None:
            async with self._lock:
                pcm = self._cache.get(key)
                if pcm is None:
                    pcm = await render_speech(self.tts, text, sample_rate)
                    if len(self._cache) >= self.max_items:
                        self._cache.pop(next(iter(self._cache)))
                    self._cache[key] = pcm
        yield pcm


def call_metadata(call_info: Any) -> CallMetadata:
    """The Stream Node metadata for a call, from whatever describes it.

    Accepts a CallMetadata, the sandbox's BotCall (its `metadata()` dict), any mapping
    with the metadata's keys, or an object with `callid`/`virtual_number`/
    `customer_number` attributes.
    """
    if isinstance(call_info, CallMetadata):
        return call_info
    if hasattr(call_info, "metadata") and callable(call_info.metadata):
        data: Mapping[str, Any] = call_info.metadata()
    elif isinstance(call_info, Mapping):
        data = call_info
    else:
        data = {
            key: getattr(call_info, key)
            for key in ("callid", "virtual_number", "customer_number", "call_type")
            if hasattr(call_info, key)
        }
    return CallMetadata.model_validate(dict(data))


class StreamNode:
    """Plays scripted callers into a bot, one WebSocket per call, like Knowlarity's node.

    `options` are how each call is placed (`voice.caller.CallerOptions`; keyword
    `caller_options` adjust them, e.g. `speed=4`); the node fills in each call's
    metadata and voice. A TTS in the options is wrapped in a cache: demo callers repeat
    themselves. `on_event(call_id, event)` sees every call's events live and
    `on_report(report)` each finished call. `reports` keeps the latest `keep_reports`.
    """

    def __init__(
        self,
        bot_url: str,
        options: CallerOptions | None = None,
        *,
        conversations: Sequence[Conversation] = DEMO_CONVERSATIONS,
        max_concurrent: int = 4,
        max_waiting: int = 8,
        seed: int | None = None,
        on_event: EventCallback | None = None,
        on_report: ReportCallback | None = None,
        keep_reports: int = 200,
        **caller_options: Any,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if not conversations:
            raise ValueError("a stream node needs at least one conversation")
        self.bot_url = bot_url
        opts = (options or CallerOptions()).replace(**caller_options)
        tts = opts.tts
        self.options = opts.replace(tts=None, on_event=None, metadata=None)
        # Fail now, not on the first call, if the URL or an option is unusable.
        Caller(bot_url, self.options)
        self._tts = CachedSpeech(tts) if tts is not None else None
        self.conversations = tuple(conversations)
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self.on_event = on_event
        self.on_report = on_report
        self.reports: deque[CallReport] = deque(maxlen=keep_reports)
        self.refused = 0
        self._rng = random.Random(seed)
        self._slots = asyncio.Semaphore(max_concurrent)
        self._waiting = 0
        self._closing = False
        self._callers: set[Caller] = set()
        self._tasks: set[asyncio.Task[CallReport]] = set()

    def __repr__(self) -> str:
        return f"<StreamNode {redact_url(self.bot_url)} active={self.active}/{self.max_concurrent}>"

    @property
    def active(self) -> int:
        """Conversations in progress (dialled, not yet ended)."""
        return len(self._callers)

    def pick(self) -> Conversation:
        """A random demo caller."""
        return self._rng.choice(self.conversations)

    def _speech(self) -> SpeechSynth:
        if self._tts is None:
            self._tts = CachedSpeech(default_tts())
        return self._tts

    async def place_call(self, call_info: Any, conversation: Conversation | None = None) -> CallReport:
        """Dial the bot for this call and play `conversation` (a random demo one if None).

        Never raises for what the bot does (that is the report's outcome); a refused call
        (too many waiting, or the node closing) returns a report with outcome "error".
        """
        meta = call_metadata(call_info)
        conv = conversation or self.pick()
        if self._closing:
            return self._refuse(meta, "stream node closed")
        if self._slots.locked() and self._waiting >= self.max_waiting:
            return self._refuse(meta, f"stream node busy: {self.max_concurrent} calls active and {self._waiting} waiting")
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            if self._closing:
                return self._refuse(meta, "stream node closed")
            try:
                tts = self._speech()
            except Exception as exc:  # noqa: BLE001 - no voice: this call fails, the node goes on
                return self._refuse(meta, f"the offline TTS is unavailable: {exc}")
            on_event = None
            if self.on_event is not None:
                callback, call_id = self.on_event, meta.callid
                on_event = lambda event: callback(call_id, event)  # noqa: E731 - a one-line closure over this call's id
            try:
                caller = Caller(self.bot_url, self.options, metadata=meta, tts=tts, on_event=on_event)
            except CallerError as exc:
                return self._refuse(meta, str(exc))
            log.info("[STREAMNODE] call %s from %s: caller %r", meta.callid, meta.customer_number, conv.name)
            self._callers.add(caller)
            try:
                report = await caller.run(conv)
            finally:
                self._callers.discard(caller)
            self._done(report)
            return report
        finally:
            self._slots.release()

    def _refuse(self, meta: CallMetadata, reason: str) -> CallReport:
        self.refused += 1
        report = CallReport(
            url=redact_url(self.bot_url), call_id=meta.callid,
            sample_rate=self.options.sample_rate, speed=self.options.speed,
        )
        report.error = reason
        log.warning("[STREAMNODE] call %s not placed: %s", meta.callid, reason)
        self._done(report)
        return report

    def _done(self, report: CallReport) -> None:
        self.reports.append(report)
        log.info("[STREAMNODE] call %s ended: %s", report.call_id, report.describe_outcome())
        if self.on_report is not None:
            try:
                self.on_report(report)
            except Exception:
                log.exception("on_report callback failed")

    def handle_inbound(self, call_info: Any) -> asyncio.Task[CallReport]:
        """The SandboxServer's inbound-bot hook: start the call, return what to await.

        A task (not a bare coroutine) so the conversation runs even if the sandbox stops
        waiting for it, and `close()` can see every call through to its end.
        """
        task = asyncio.get_running_loop().create_task(self.place_call(call_info), name="streamnode-call")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self, timeout: float = 5.0) -> None:
        """Hang up every call in progress and refuse new ones.

        Calls end by the caller hanging up (each still returns its report), not by
        cancellation: whoever awaits a call — the sandbox keeping its lifecycle — sees
        it end normally and logs its HANGUP and CDR.
        """
        self._closing = True
        for caller in list(self._callers):
            caller.hangup()
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def attach_to_sandbox(sandbox_server: Any, bot_url: str, **options: Any) -> StreamNode:
    """Route the sandbox's inbound bot calls through a new StreamNode into `bot_url`.

    `options` are StreamNode's. Returns the node (close it, and set the hook to None,
    when the demo ends: `detach_from_sandbox`).
    """
    node = StreamNode(bot_url, **options)
    sandbox_server.set_inbound_bot_hook(node.handle_inbound)
    return node


async def detach_from_sandbox(sandbox_server: Any, node: StreamNode) -> None:
    """Stop routing calls to the node and hang up the calls it has in progress."""
    sandbox_server.set_inbound_bot_hook(None)
    await node.close()
