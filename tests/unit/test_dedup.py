"""The ingress's deduplication memory: single flight, the window, the bound on ids."""

from __future__ import annotations

import asyncio

from service.ingress.dedup import Deduplicator


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def acknowledged(calls: list[str], name: str) -> object:
    async def send() -> asyncio.Future[str]:
        calls.append(name)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        future.set_result(name)
        return future

    return send


async def test_an_id_accepted_within_the_window_is_not_published_again() -> None:
    """Within the window: a duplicate, `send` not called; past it: published again."""
    clock, calls = Clock(), list[str]()
    dedup = Deduplicator[str](window=60, max_ids=10, clock=clock)
    assert await dedup.publish_once("a", acknowledged(calls, "1")) == ("1", False)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the acknowledgement's callbacks run
    assert await dedup.publish_once("a", acknowledged(calls, "2")) == (None, True)  # type: ignore[arg-type]
    clock.now += 61
    assert await dedup.publish_once("a", acknowledged(calls, "3")) == ("3", False)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert calls == ["1", "3"]


async def test_a_delivery_joins_the_publish_in_flight() -> None:
    """Two deliveries of one id while Kafka has not acknowledged: one publish."""
    dedup = Deduplicator[str](window=60, max_ids=10)
    release: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    sends = 0

    async def send() -> asyncio.Future[str]:
        nonlocal sends
        sends += 1
        return release

    first = asyncio.create_task(dedup.publish_once("a", send))
    second = asyncio.create_task(dedup.publish_once("a", send))
    await asyncio.sleep(0)
    release.set_result("ack")
    assert await first == ("ack", False)
    assert await second == ("ack", True)
    assert sends == 1


async def test_at_most_max_ids_are_remembered_the_oldest_forgotten_first() -> None:
    """Past `max_ids` the oldest ids go, the newest stay."""
    calls: list[str] = []
    dedup = Deduplicator[str](window=3600, max_ids=100)
    for n in range(250):
        await dedup.publish_once(f"id-{n}", acknowledged(calls, str(n)))  # type: ignore[arg-type]
        await asyncio.sleep(0)
    assert len(dedup) <= 100
    assert dedup.seen("id-249")
    assert dedup.seen("id-160")
    assert not dedup.seen("id-0")


async def test_an_id_is_remembered_for_the_window_and_at_most_a_tenth_more() -> None:
    """With an id accepted every second, the first is still seen just before the window ends
    and forgotten once a tenth of the window more has passed."""
    clock, calls = Clock(), list[str]()
    dedup = Deduplicator[str](window=100, max_ids=10_000, clock=clock)
    for n in range(121):
        await dedup.publish_once(f"id-{n}", acknowledged(calls, str(n)))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        if n == 99:
            assert dedup.seen("id-0")
        clock.now += 1
    assert not dedup.seen("id-0")
    assert dedup.seen("id-30")
