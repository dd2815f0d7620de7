"""Coroutines started from Qt slots: kept alive, and their failures reported.

A slot cannot await, so a button click that starts a daemon spawns a task. The
event loop keeps only weak references to tasks, so ``TaskKeeper`` holds them
until they finish, logs any exception and hands a sentence to ``on_error`` (the
window shows it in its status bar) instead of losing it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class TaskKeeper:
    """Attributes:
    tasks: the tasks still running.
    on_error: called with "<what> failed: <why>" when a task raises.
    """

    def __init__(self, on_error: Callable[[str], None] | None = None) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.on_error = on_error or (lambda _message: None)

    def spawn(
        self,
        coro: Coroutine[Any, Any, T],
        what: str,
        on_done: Callable[[T], None] | None = None,
    ) -> asyncio.Task[T]:
        """Run ``coro`` on the loop; ``on_done(result)`` runs when it succeeds."""
        task = asyncio.get_event_loop().create_task(coro, name=f"ui: {what}")
        self.tasks.add(task)

        def finished(task: asyncio.Task[T]) -> None:
            self.tasks.discard(task)
            if task.cancelled():
                return
            exc = task.exception()
            if exc is not None:
                log.error("%s failed", what, exc_info=exc)
                self.on_error(f"{what} failed: {exc}")
            elif on_done is not None:
                try:
                    on_done(task.result())
                except Exception:  # a broken callback must not poison the loop
                    log.exception("after %s", what)

        task.add_done_callback(finished)
        return task

    async def wait_all(self, timeout: float = 10.0) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()
