"""The per-key tasks a forwarder or orchestrator drives, and their partitions."""

from __future__ import annotations

import asyncio

from consumers.partition_tasks import PartitionTasks


async def test_revoking_a_partition_stops_only_its_tasks_and_ended_tasks_are_forgotten() -> None:
    """stop_partitions cancels and awaits the tasks of those partitions; the others run on;
    a task that ends by itself is no longer running."""
    tasks = PartitionTasks()
    release = asyncio.Event()

    async def wait() -> None:
        await release.wait()

    async def finish() -> None:
        return None

    first = tasks.start("meter-a", 0, wait(), "a")
    second = tasks.start("meter-b", 1, wait(), "b")
    done = tasks.start("meter-c", 1, finish(), "c")
    await done
    await asyncio.sleep(0)  # its done callback runs
    assert tasks.running("meter-c") is None
    await tasks.stop_partitions({0})
    assert first.cancelled()
    assert tasks.running("meter-a") is None
    assert tasks.running("meter-b") is second
    assert not second.done()
    await tasks.stop_all()
    assert second.cancelled()
