"""Work a consumer drives on its own, one task per key (a meter's bind request, an
installation's workflow), each tied to the partition its key belongs to.

`PartitionOwnedWork` is what the bind forwarder and the installation orchestrator share: when
the group assigns partitions of their topic (at start, or taken over from a member that stopped
or died) they resume those partitions' unfinished work from its last durable step; when
partitions are revoked they stop driving their work, at that durable point, for the next owner
to go on from. Any number of members may run in one group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("gridhook.consumer")

Work = TypeVar("Work")


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


class PartitionOwnedWork(Generic[Work]):
    """A handler's work items, owned by the partitions of `topic` it holds.

    Subclasses say how to find the unfinished items of some partitions (`unfinished`) and how
    to drive one (`drive`, which starts a task in `self._driving`); this class resumes and
    stops them as the group moves partitions.
    """

    topic: str
    noun: str
    """What one item is called in the log line, in the plural: `bind requests`."""

    def __init__(self) -> None:
        self._driving = PartitionTasks()

    async def unfinished(self, partitions: set[int] | None) -> Sequence[Work]:
        """The items of `partitions` (None: every partition) with a step left to take."""
        raise NotImplementedError

    def drive(self, item: Work) -> None:
        """Start driving `item`, unless it is driven already."""
        raise NotImplementedError

    async def resume(self, partitions: set[int] | None = None) -> int:
        """Drive the unfinished items of `partitions` (None: every partition)."""
        items = await self.unfinished(partitions)
        for item in items:
            self.drive(item)
        if items:
            log.info(f"resumed {self.noun}", extra={"fields": {"count": len(items)}})
        return len(items)

    async def assigned(self, starts: dict[tuple[str, int], int]) -> None:
        """Partitions of `topic` are now this member's: resume their work."""
        await self.resume({partition for topic, partition in starts if topic == self.topic})

    async def revoked(self, partitions: list[tuple[str, int]]) -> None:
        """Partitions move to another member: stop driving their work."""
        gone = {partition for topic, partition in partitions if topic == self.topic}
        await self._driving.stop_partitions(gone)

    async def close(self) -> None:
        """Stop driving; what is unfinished is resumed by the partitions' next owner."""
        await self._driving.stop_all()
