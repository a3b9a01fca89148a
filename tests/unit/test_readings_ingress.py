"""POST /v1/powerbox/readings through the real app: one validation and one round of publishes
per batch, one record per meter, and the reads of a device that is not the meter's dead-lettered
with the reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gridhook.contract.codec import decode
from gridhook.contract.settings import Settings
from gridhook.contract.topics import METER_READS
from gridhook.state.store import Store
from service.ingress.readings import NO_DEVICE, OTHER_DEVICE
from tests.support.bind_states import MAC, put_bind_states, put_bound
from tests.support.fakes import InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.tokens import AUDIENCE, ISSUER, ec_key, write_jwks

KEY = ec_key()
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def read(meter: str, mac: str, minute: int, wh: int) -> dict[str, Any]:
    return {
        "meterId": meter,
        "deviceMac": mac,
        "readAt": f"2026-12-06T10:{minute:02d}:00Z",
        "summationDelivered": wh,
        "summationReceived": 0,
        "instantaneousDemand": 400,
        "multiplier": 1,
        "divisor": 1000,
        "unitOfMeasure": 0,
    }


@pytest.fixture
async def setup(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> tuple[TestClient[Any, Any], InMemoryPublisher]:
    """Meter m-bound holds MAC; m-pending is joining MAC; m-free holds nothing."""
    jwks = tmp_path / "jwks.json"
    write_jwks(jwks, KEY)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = Store(url, writer=True)
    await store.migrate()
    await put_bound(store, "m-bound", MAC)
    await put_bind_states(store, ["bind_pending"], "m-pending", MAC)
    await store.close()
    settings = Settings.from_env(
        {
            "GRIDHOOK_POWERBOX_JWKS": str(jwks),
            "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
            "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
            "GRIDHOOK_DATABASE_URL": url,
        }
    )
    publisher = InMemoryPublisher()
    client = await aiohttp_client(ingress_app(settings, publisher, store=Store(url), clock=None))
    return client, publisher


async def post(
    client: TestClient[Any, Any], body: Any, token: str | None = None
) -> tuple[int, bytes]:
    headers = {
        "Authorization": f"Bearer {token or KEY.token()}",
        "Content-Type": "application/json",
    }
    reply = await client.post("/v1/powerbox/readings", data=orjson.dumps(body), headers=headers)
    return reply.status, await reply.read()


async def test_a_batch_becomes_one_record_per_meter_and_dead_letters_with_reasons(
    setup: tuple[TestClient[Any, Any], InMemoryPublisher],
) -> None:
    """Reads of a bound and a joining meter are published, each meter's in one record keyed
    by it; reads of a meter with no device, or from another device, go to the dead-letter
    topic with the reason; the answer counts both."""
    client, publisher = setup
    reads = [
        read("m-bound", MAC, 0, 100),
        read("m-pending", MAC.replace(":", "").lower(), 0, 5),  # the same device, written so
        read("m-bound", MAC, 15, 180),
        read("m-free", MAC, 0, 1),
        read("m-bound", "00:1B:C5:00:00:00:00:01", 0, 7),
    ]
    status, body = await post(client, {"reads": reads})
    assert status == 200
    assert orjson.loads(body) == {"accepted": 3, "deadLettered": 2}
    published = {(topic, record.key): record for topic, record in publisher.records}
    assert set(published) == {
        (METER_READS, b"m-bound"),
        (METER_READS, b"m-pending"),
        (METER_READS + ".dlq", b"m-free"),
        (METER_READS + ".dlq", b"m-bound"),
    }
    bound = decode(*astuple(published[(METER_READS, b"m-bound")]))
    document = orjson.loads(bound.data)
    assert [r["summationDelivered"] for r in document["reads"]] == [100, 180]
    assert "meterId" not in document["reads"][0]
    reasons = {
        record.key: dict(record.headers)["dlq_error_message"].decode()
        for topic, record in publisher.records
        if topic.endswith(".dlq")
    }
    assert reasons == {b"m-free": NO_DEVICE, b"m-bound": OTHER_DEVICE}


async def test_the_same_batch_again_makes_the_same_events(
    setup: tuple[TestClient[Any, Any], InMemoryPublisher],
) -> None:
    """A batch the head-end sends again (it got no answer) carries the same event ids."""
    client, publisher = setup
    batch = {"reads": [read("m-bound", MAC, 0, 100)]}
    await post(client, batch)
    await post(client, batch)
    ids = [decode(*astuple(record)).id for _, record in publisher.records]
    assert len(ids) == 2
    assert ids[0] == ids[1]


@pytest.mark.parametrize(
    "body",
    [
        {"reads": []},
        {"reads": [read("m-bound", MAC, 0, -1)]},
        {"reads": [read("m-bound", MAC, 0, 2**48)]},
        {"reads": [{**read("m-bound", MAC, 0, 1), "unitOfMeasure": 2}]},
        {"reads": [{**read("m-bound", MAC, 0, 1), "readAt": "2026-13-45T99:00:00Z"}]},
        {"reads": [read("m-bound", MAC, 0, 1)] * 1001},
        {"reads": [{**read("m-bound", MAC, 0, 1), "deviceMac": "not-a-mac"}]},
    ],
    ids=["empty", "negative", "past-48-bit", "not-kwh", "bad-time", "too-many", "bad-mac"],
)
async def test_a_bad_batch_is_400_with_no_body_and_nothing_published(
    setup: tuple[TestClient[Any, Any], InMemoryPublisher], body: dict[str, Any]
) -> None:
    """A batch that breaks the schema is refused as PowerBox refuses: 400, no body."""
    client, publisher = setup
    status, answer = await post(client, body)
    assert (status, answer) == (400, b"")
    assert publisher.records == []


async def test_without_a_valid_token_it_is_401(
    setup: tuple[TestClient[Any, Any], InMemoryPublisher],
) -> None:
    """Reads are authenticated as PowerBox is: a token the IdP did not sign is 401."""
    client, publisher = setup
    status, _ = await post(client, {"reads": [read("m-bound", MAC, 0, 1)]}, ec_key().token())
    assert status == 401
    assert publisher.records == []
