"""Several bot watchers as one: `kconsole --bot URL --bus redis://...` watches both.

Events of every watcher are interleaved as they come; a command goes to the watcher that
reported the call (a call id is only ever one watcher's). Connection states are merged:
live while any watcher is live, otherwise the first one's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence

from console.botwatch import BotWatcher
from console.state import FeedStatus
from voice.bus import MonitorCommand, MonitorEvent

OnState = Callable[[FeedStatus], None]


class MergedWatcher:
    def __init__(self, watchers: Sequence[BotWatcher]) -> None:
        if not watchers:
            raise ValueError("no watcher to merge")
        self.watchers = list(watchers)
        self.description = " + ".join(w.description for w in self.watchers)
        self._owner: dict[str, BotWatcher] = {}
        self._states: dict[int, FeedStatus] = {}

    def _merged_state(self) -> FeedStatus:
        states = [self._states[i] for i in sorted(self._states)]
        live = [s for s in states if s.status == "live"]
        if live:
            return FeedStatus("live", since=time.time())
        return states[0] if states else FeedStatus("connecting", since=time.time())

    async def events(self, on_state: OnState | None = None) -> AsyncIterator[MonitorEvent]:
        queue: asyncio.Queue[tuple[BotWatcher, MonitorEvent]] = asyncio.Queue(20_000)

        def state_of(index: int) -> OnState:
            def update(status: FeedStatus) -> None:
                self._states[index] = status
                if on_state is not None:
                    on_state(self._merged_state())
            return update

        async def follow(index: int, watcher: BotWatcher) -> None:
            async for event in watcher.events(state_of(index)):
                if queue.full():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait((watcher, event))

        tasks = [asyncio.create_task(follow(i, w), name=f"watch-{i}") for i, w in enumerate(self.watchers)]
        try:
            while True:
                watcher, event = await queue.get()
                call_id = getattr(event, "call_id", "")
                if call_id and call_id != "*":
                    self._owner[call_id] = watcher
                yield event
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def send(self, command: MonitorCommand) -> str | None:
        watcher = self._owner.get(command.call_id)
        if watcher is None:
            return f"no live call {command.call_id} on any watched bot"
        return await watcher.send(command)

    async def listen(self, call_id: str, on: bool) -> str | None:
        watcher = self._owner.get(call_id)
        if watcher is None:
            return None if not on else f"no live call {call_id} on any watched bot"
        return await watcher.listen(call_id, on)

    async def aclose(self) -> None:
        for watcher in self.watchers:
            await watcher.aclose()
