"""Deduplication across ingress replicas, shared through PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gridhook.contract.errors import BrokerUnavailable
from gridhook.contract.settings import Settings
from gridhook.state.claims import Claim, SharedClaims
from gridhook.state.store import Store
from tests.support.fakes import InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.light_payloads import SECRET, light_event, signed
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.postgres

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def database(postgres_url: str) -> str:
    return await fresh_database(postgres_url)


async def replica(
    aiohttp_client: ClientFactory, url: str, publisher: InMemoryPublisher
) -> TestClient[Any, Any]:
    settings = Settings.from_env({"GRIDHOOK_LIGHT_SECRETS": SECRET, "GRIDHOOK_DATABASE_URL": url})
    return await aiohttp_client(ingress_app(settings, publisher, store=Store(url), clock=None))


async def test_a_webhook_sent_to_two_replicas_is_published_once(
    aiohttp_client: ClientFactory, database: str
) -> None:
    """The same delivery at both replicas at once, then again: one record in all, every
    answer 200."""
    publishers = [InMemoryPublisher(), InMemoryPublisher()]
    replicas = [await replica(aiohttp_client, database, p) for p in publishers]
    for _ in range(20):
        body, headers = signed(light_event("enrollment.finalized"), now=time.time())
        answers = await asyncio.gather(
            *(r.post("/webhooks/light", data=body, headers=headers) for r in replicas)
        )
        assert [a.status for a in answers] == [200, 200]
        again = await replicas[1].post("/webhooks/light", data=body, headers=headers)
        assert (await again.json())["status"] == "duplicate"
    assert sum(len(p.published("light.events")) for p in publishers) == 20


async def test_a_failed_publish_releases_its_claim(
    aiohttp_client: ClientFactory, database: str
) -> None:
    """Kafka refuses one replica's publish (503): the partner's retry at the other replica
    publishes it at once."""
    broken = InMemoryPublisher(failure=BrokerUnavailable("down"))
    healthy = InMemoryPublisher()
    first = await replica(aiohttp_client, database, broken)
    second = await replica(aiohttp_client, database, healthy)
    body, headers = signed(light_event("enrollment.finalized"), now=time.time())
    assert (await first.post("/webhooks/light", data=body, headers=headers)).status == 503
    assert (await second.post("/webhooks/light", data=body, headers=headers)).status == 200
    assert len(healthy.published("light.events")) == 1


async def test_a_stale_claim_is_taken_over(database: str) -> None:
    """A replica that claimed an id and died: after the stale time another may publish it."""
    store = Store(database)
    await store.migrate()
    claims = SharedClaims(store, stale_after=5)
    assert await claims.claim("light:m1", now=100) is Claim.MINE
    assert await claims.claim("light:m1", now=102) is Claim.IN_FLIGHT
    assert await claims.claim("light:m1", now=106) is Claim.MINE
    await claims.accept("light:m1", now=107)
    assert await claims.claim("light:m1", now=500) is Claim.ACCEPTED
    assert await claims.forget(before=600) == 1
    await store.close()
