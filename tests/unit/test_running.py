"""How a batch command runs (`gridhook.contract.running.run_batch`)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
import uvloop

from gridhook.contract.gc_tuning import YOUNG_THRESHOLD
from gridhook.contract.running import run_batch


@pytest.fixture
def collector_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector_restored")
def test_a_batch_command_runs_on_uvloop_with_the_collector_tuned() -> None:
    """run_batch returns the coroutine's result, run on uvloop once the young generation's
    threshold is the processes' own."""

    async def main() -> tuple[bool, int]:
        return isinstance(asyncio.get_running_loop(), uvloop.Loop), gc.get_threshold()[0]

    on_uvloop, young = run_batch(main())

    assert on_uvloop
    assert young == YOUNG_THRESHOLD
