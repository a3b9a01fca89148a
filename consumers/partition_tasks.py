"""The tasks a consumer drives on its own, one per key (a meter, an installation), each tied to
the partition its key belongs to, so that a revoked partition's tasks stop and its next owner
resumes them from their last durable step."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from typing import Any


class PartitionTasks:
    """At most one running task per key, remembered with its partition until it ends."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._partition_of: dict[str, int] = {}

    def running(self, key: str) -> asyncio.Task[None] | None:
        return self._tasks.get(key)

    def start(
        self, key: str, partition: int, work: Coroutine[Any, Any, None], name: str
    ) -> asyncio.Task[None]:
        """Run `work` as the task of `key` (the caller has dealt with any task running)."""
        task = asyncio.create_task(work, name=name)
        self._tasks[key] = task
        self._partition_of[key] = partition
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    async def stop(self, keys: Iterable[str]) -> None:
        """Cancel the tasks of `keys` and wait until they have stopped."""
        tasks = [self._tasks[key] for key in set(keys) if key in self._tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop_partitions(self, partitions: set[int]) -> None:
        await self.stop(key for key, p in list(self._partition_of.items()) if p in partitions)

    async def stop_all(self) -> None:
        await self.stop(list(self._tasks))

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
            self._partition_of.pop(key, None)
