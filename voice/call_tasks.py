"""The background tasks of one call: named, tracked, and cancelled together at the end.

A task that fails is logged with its traceback (nothing in a call may die silently);
`ignore` names the exception types that are a normal way to stop (the caller's socket
closing). `cancel_all` is what closing a call does: every task is cancelled and given a
bounded time to finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any


class CallTasks:
    """`spawn(coro, name)`: a task named `name-<call id>`, forgotten once done."""

    def __init__(
        self, call_id: str, log: logging.Logger | logging.LoggerAdapter[Any], *, ignore: tuple[type[BaseException], ...] = ()
    ) -> None:
        self.call_id = call_id
        self.log = log
        self.ignore = ignore
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{name}-{self.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    @property
    def active(self) -> int:
        """Tasks not yet finished."""
        return sum(1 for t in self._tasks if not t.done())

    async def cancel_all(self, timeout: float = 5.0) -> None:
        """Cancel every running task and wait up to `timeout` seconds for them to end."""
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, self.ignore):
            self.log.error("internal error in %s: %r", task.get_name(), exc, exc_info=exc)
