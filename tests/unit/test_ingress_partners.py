"""PowerBox (bearer JWT), WattShift and Bright (API keys) through the real app."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from gridhook.contract.codec import decode
from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.settings import Settings
from gridhook.state.store import Store
from gridhook.state.transitions import RECONCILERS
from service.ingress import auth
from tests.support.bind_states import put_bind_states
from tests.support.fakes import InMemoryEndOffsets, InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.light_payloads import SECRET, light_event, signed
from tests.support.partner_payloads import (
    bind_payload,
    bright_event,
    customer_payload,
    price_signal,
)
from tests.support.state_events import METER, applications, customer
from tests.support.tokens import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    ec_key,
    hs256_with_public_key,
    rsa_key,
    unsigned_token,
    write_jwks,
)
from tests.support.waiting import eventually

WATTSHIFT_KEYS = ("ws-key-old-0123456789", "ws-key-new-0123456789")
BRIGHT_KEY = "bright-key-0123456789"
RSA = rsa_key()
EC = ec_key()

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class Clock:
    """The app's clock; tests move it forward instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    write_jwks(path, RSA, EC)
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store_url(tmp_path: Path) -> str:
    """A store where client-1 is active with one meter, and a second customer is suspended."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = Store(url, writer=True)
    await store.migrate()
    await store.apply(applications([customer("A", 0)]), reconcilers=RECONCILERS)
    await store.close()
    return url


async def seed(url: str, *events: Any) -> None:
    store = Store(url, writer=True)
    await store.apply(applications(list(events)), reconcilers=RECONCILERS)
    await store.close()


async def seed_bind_states(url: str, states: list[str]) -> None:
    store = Store(url, writer=True)
    await put_bind_states(store, states)
    await store.close()


@pytest.fixture
def end_offsets() -> InMemoryEndOffsets:
    """Kafka's end offsets as the ingress sees them; the seeded store has applied them."""
    return InMemoryEndOffsets({"powerbox.customers": {0: 1}})


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory,
    publisher: InMemoryPublisher,
    jwks_file: Path,
    store_url: str,
    clock: Clock,
    end_offsets: InMemoryEndOffsets,
) -> TestClient[Any, Any]:
    settings = Settings.from_env(
        {
            "GRIDHOOK_POWERBOX_JWKS": str(jwks_file),
            "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
            "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
            "GRIDHOOK_WATTSHIFT_API_KEYS": ",".join(WATTSHIFT_KEYS),
            "GRIDHOOK_BRIGHT_API_KEYS": BRIGHT_KEY,
            "GRIDHOOK_LIGHT_SECRETS": SECRET,
            "GRIDHOOK_DATABASE_URL": store_url,
            "GRIDHOOK_READ_YOUR_WRITES_WAIT": "0.5",
        }
    )
    app = ingress_app(
        settings, publisher, store=Store(store_url), end_offsets=end_offsets, clock=clock
    )
    return await aiohttp_client(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_json(
    client: TestClient[Any, Any], path: str, body: Any, headers: dict[str, str]
) -> tuple[int, bytes]:
    response = await client.post(
        path, data=orjson.dumps(body), headers={**headers, "Content-Type": "application/json"}
    )
    return response.status, await response.read()


# -- PowerBox customer sync --------------------------------------------------------------


@pytest.mark.parametrize("key", [RSA, EC], ids=["RS256", "ES256"])
async def test_customer_sync_answers_client_and_profile_ids(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, key: SigningKey
) -> None:
    """A valid sync is published keyed by clientId; 200 names the stable hemProfileId."""
    status, body = await post_json(
        client, "/v1/powerbox/customer", customer_payload(), bearer(key.token())
    )
    assert status == 200
    assert orjson.loads(body) == {
        "clientId": "client-9",
        "hemProfileId": hem_profile_id("client-9"),
    }
    (record,) = publisher.published("powerbox.customers")
    assert record.key == b"client-9"
    assert decode(record.key, record.value, record.headers).source == "powerbox"


async def test_same_sync_twice_publishes_once_and_a_change_publishes_again(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """Idempotent on clientId: an identical payload changes nothing; a changed one is new."""
    token = bearer(EC.token())
    for _ in range(2):
        status, _ = await post_json(client, "/v1/powerbox/customer", customer_payload(), token)
        assert status == 200
    assert len(publisher.published("powerbox.customers")) == 1
    await post_json(client, "/v1/powerbox/customer", customer_payload(rate="R2"), token)
    versions = publisher.published("powerbox.customers")
    assert len(versions) == 2
    assert (
        decode(None or versions[0].key, versions[0].value, versions[0].headers).id
        != decode(versions[1].key, versions[1].value, versions[1].headers).id
    )


async def test_sync_already_in_the_store_is_not_published_again(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, store_url: str
) -> None:
    """After a restart the in-memory window is empty; the store still knows the version."""
    stored = customer("A", 0)
    await seed(store_url, stored)
    document = orjson.loads(stored.event.data)
    status, _ = await post_json(client, "/v1/powerbox/customer", document, bearer(EC.token()))
    assert status == 200
    assert publisher.published("powerbox.customers") == []


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: None, id="missing"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
        pytest.param(lambda: unsigned_token(RSA.kid), id="alg-none"),
        pytest.param(lambda: hs256_with_public_key(RSA), id="hs256-with-public-key"),
        pytest.param(lambda: EC.token(exp=int(time.time()) - 120), id="expired"),
        pytest.param(lambda: EC.token(nbf=int(time.time()) + 600), id="not-yet-valid"),
        pytest.param(lambda: EC.token(iss="https://evil.example"), id="wrong-issuer"),
        pytest.param(lambda: EC.token(aud="someone-else"), id="wrong-audience"),
        pytest.param(lambda: EC.token(exp=None), id="no-exp"),
        pytest.param(lambda: ec_key("stranger").token(), id="unknown-key"),
        pytest.param(lambda: ec_key(EC.kid).token(), id="right-kid-wrong-key"),
        pytest.param(lambda: SigningKey(EC.kid, "RS256", RSA.private_key).token(), id="alg-swap"),
    ],
)
async def test_bad_tokens_are_401_with_no_body(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, token: Callable[[], str | None]
) -> None:
    """alg none, HS256 with the public key, expired, wrong iss/aud...: 401, empty body."""
    value = token()
    headers = {} if value is None else bearer(value)
    status, body = await post_json(client, "/v1/powerbox/customer", customer_payload(), headers)
    assert status == 401
    assert body == b""
    assert publisher.records == []


async def test_small_clock_skew_is_tolerated(client: TestClient[Any, Any]) -> None:
    """A token that expired a few seconds ago, within the leeway, still passes."""
    token = EC.token(exp=int(time.time()) - 5)
    status, _ = await post_json(client, "/v1/powerbox/customer", customer_payload(), bearer(token))
    assert status == 200


async def test_jwks_rotation_is_picked_up_when_an_unknown_kid_appears(
    client: TestClient[Any, Any], jwks_file: Path, clock: Clock
) -> None:
    """The IdP publishes a new key: its first token makes the ingress reload the JWKS."""
    status, _ = await post_json(
        client, "/v1/powerbox/customer", customer_payload(), bearer(EC.token())
    )
    assert status == 200
    rotated = ec_key("ec-2")
    write_jwks(jwks_file, rotated)
    clock.offset += auth.JWKS_MIN_REFRESH_SECONDS
    status, _ = await post_json(
        client, "/v1/powerbox/customer", customer_payload(rate="R3"), bearer(rotated.token())
    )
    assert status == 200
    retired, _ = await post_json(
        client, "/v1/powerbox/customer", customer_payload(rate="R4"), bearer(EC.token())
    )
    assert retired == 401


async def test_unknown_kids_do_not_reload_the_jwks_more_than_once_per_interval(
    client: TestClient[Any, Any], jwks_file: Path
) -> None:
    """A flood of tokens with made-up kids cannot make the ingress fetch the JWKS each time."""
    await post_json(client, "/v1/powerbox/customer", customer_payload(), bearer(EC.token()))
    rotated = ec_key("ec-3")
    write_jwks(jwks_file, rotated)
    status, _ = await post_json(
        client, "/v1/powerbox/customer", customer_payload(rate="R5"), bearer(rotated.token())
    )
    assert status == 401  # within the interval: the old JWKS is still in force


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda body: body.pop("clientId"), 400),
        (lambda body: body["customerSites"][0].update({"state": "Michigan"}), 400),
        (lambda body: body["customerSites"][0]["meters"][0].update({"meterType": "Water"}), 400),
        (lambda body: body["customerSites"][0]["meters"][0].update({"unitOfMeasure": "ccf"}), 400),
        (lambda body: body["customerSites"][0].pop("postalCode"), 400),
    ],
)
async def test_invalid_customer_payload_is_400_with_no_body(
    client: TestClient[Any, Any], mutate: Callable[[dict[str, Any]], object], expected: int
) -> None:
    body = customer_payload()
    mutate(body)
    status, answer = await post_json(client, "/v1/powerbox/customer", body, bearer(EC.token()))
    assert (status, answer) == (expected, b"")


async def test_powerbox_transport_errors_have_no_body(client: TestClient[Any, Any]) -> None:
    """Not JSON: 400; wrong media type: 415; both with an empty body."""
    response = await client.post(
        "/v1/powerbox/customer",
        data=b"{nope",
        headers={**bearer(EC.token()), "Content-Type": "application/json"},
    )
    assert (response.status, await response.read()) == (400, b"")
    response = await client.post(
        "/v1/powerbox/customer",
        data=b"{}",
        headers={**bearer(EC.token()), "Content-Type": "text/plain"},
    )
    assert (response.status, await response.read()) == (415, b"")


async def test_powerbox_healthz(client: TestClient[Any, Any], publisher: InMemoryPublisher) -> None:
    response = await client.get("/v1/powerbox/healthz")
    assert response.status == 200
    publisher.started = False
    assert (await client.get("/v1/powerbox/healthz")).status == 503


# -- PowerBox bind ---------------------------------------------------------------------


async def test_bind_is_accepted_with_a_new_bind_id(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """An acceptable bind is published to powerbox.bind.requests keyed by meterId."""
    status, body = await post_json(client, "/v1/powerbox/bind", bind_payload(), bearer(RSA.token()))
    assert status == 200
    answer = orjson.loads(body)
    assert answer["status"] == "accepted"
    (record,) = publisher.published("powerbox.bind.requests")
    event = decode(record.key, record.value, record.headers)
    assert (event.id, record.key) == (answer["bindId"], METER.encode())
    uuid.UUID(answer["bindId"])
    again, body2 = await post_json(client, "/v1/powerbox/bind", bind_payload(), bearer(RSA.token()))
    assert again == 200  # not idempotent: the store has not seen the first yet
    assert orjson.loads(body2)["bindId"] != answer["bindId"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (bind_payload(hemProfileId=str(uuid.uuid4())), 404),
        (bind_payload(meterId="meter-of-someone-else"), 404),
        (bind_payload(macAddress="not-a-mac"), 400),
        (bind_payload(installCode="XYZ"), 400),
        (bind_payload(installCode="83FED3407A93"), 400),
        (bind_payload(action=2), 400),
        ({"meterId": METER}, 400),
    ],
)
async def test_bind_refusals(
    client: TestClient[Any, Any],
    publisher: InMemoryPublisher,
    payload: dict[str, Any],
    expected: int,
) -> None:
    status, body = await post_json(client, "/v1/powerbox/bind", payload, bearer(EC.token()))
    assert (status, body) == (expected, b"")
    assert publisher.records == []


async def test_bind_for_a_suspended_account_is_403(
    client: TestClient[Any, Any], store_url: str
) -> None:
    await seed(store_url, customer("S", 1))
    status, _ = await post_json(client, "/v1/powerbox/bind", bind_payload(), bearer(EC.token()))
    assert status == 403


@pytest.mark.parametrize(
    ("history", "action", "expected"),
    [
        (["bind_pending"], 1, 409),
        (["bind_pending", "bound"], 1, 409),
        ([], 0, 409),
        (["bind_pending", "bound", "unbind_pending", "unbound"], 0, 409),
        (["bind_pending", "bound"], 0, 200),
        (["bind_pending", "bind_failed"], 1, 200),
        (["bind_pending", "bound", "unbind_pending", "unbound"], 1, 200),
    ],
)
async def test_bind_state_conflicts_are_409(
    client: TestClient[Any, Any], store_url: str, history: list[str], action: int, expected: int
) -> None:
    """Bind on a bound or pending meter, unbind on an unbound one: 409."""
    await seed_bind_states(store_url, history)
    status, _ = await post_json(
        client, "/v1/powerbox/bind", bind_payload(action), bearer(EC.token())
    )
    assert status == expected


async def test_a_status_round_trip_publishes_three_versions(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """A, S, then A again: each differs from the version before, so each is published with an
    id of its own; the same A once more is current, and publishes nothing."""
    token = bearer(EC.token())
    for status in ("A", "S", "A", "A"):
        answered, _ = await post_json(
            client, "/v1/powerbox/customer", customer_payload(status), token
        )
        assert answered == 200
    versions = publisher.published("powerbox.customers")
    assert [orjson.loads(v.value)["AcctStatus"] for v in versions] == ["A", "S", "A"]
    ids = {decode(v.key, v.value, v.headers).id for v in versions}
    assert len(ids) == 3


async def test_a_wrong_install_code_is_400_and_nothing_is_published(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """The CRC-16/X-25 of the install code is checked at the door, as the head-end would."""
    wrong = bind_payload(installCode="83FED3407A939723A5C639B26916D505C3B6")
    status, body = await post_json(client, "/v1/powerbox/bind", wrong, bearer(EC.token()))
    assert (status, body) == (400, b"")
    assert publisher.records == []


async def test_a_meter_without_ami_cannot_host_a_han(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, store_url: str
) -> None:
    await seed(store_url, customer("A", 2, is_ami=False))
    status, body = await post_json(client, "/v1/powerbox/bind", bind_payload(), bearer(EC.token()))
    assert (status, body) == (400, b"")
    assert publisher.records == []


async def test_a_removed_meter_is_404_but_its_bound_device_can_be_unbound(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, store_url: str
) -> None:
    """The meter is left out of a later sync while a device is bound: no new bind (404), the
    unbind of that device still goes through."""
    await seed_bind_states(store_url, ["bind_pending", "bound"])
    await seed(store_url, customer("A", 3, meters=[]))
    status, _ = await post_json(client, "/v1/powerbox/bind", bind_payload(), bearer(EC.token()))
    assert status == 404
    status, _ = await post_json(client, "/v1/powerbox/bind", bind_payload(0), bearer(EC.token()))
    assert status == 200
    assert len(publisher.published("powerbox.bind.requests")) == 1


async def test_an_unbind_naming_another_device_is_409(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, store_url: str
) -> None:
    await seed_bind_states(store_url, ["bind_pending", "bound"])
    other = bind_payload(0, macAddress="00:1B:C5:00:00:AA:BB:00")
    status, _ = await post_json(client, "/v1/powerbox/bind", other, bearer(EC.token()))
    assert status == 409
    same = bind_payload(0, macAddress="00-1b-c5-00-00-aa-bb-cc")
    status, _ = await post_json(client, "/v1/powerbox/bind", same, bearer(EC.token()))
    assert status == 200, "the same device, spelt another way"
    assert len(publisher.published("powerbox.bind.requests")) == 1


async def test_a_bind_waits_for_the_syncs_acknowledged_before_it(
    client: TestClient[Any, Any],
    publisher: InMemoryPublisher,
    store_url: str,
    end_offsets: InMemoryEndOffsets,
) -> None:
    """Kafka holds a sync the applier has not applied: the bind waits for it (bounded), and
    is answered from the state that includes it; past the bound it is 503, not 404."""
    new_meter = bind_payload(meterId="meter-just-synced")
    end_offsets.ends["powerbox.customers"] = {0: 2}
    status, _ = await post_json(client, "/v1/powerbox/bind", new_meter, bearer(EC.token()))
    assert status == 503, "the applier has not caught up within the bound"

    asked = end_offsets.asked
    binding = asyncio.create_task(
        post_json(client, "/v1/powerbox/bind", new_meter, bearer(EC.token()))
    )
    await eventually(lambda: end_offsets.asked > asked, 5, "the bind to ask for the offsets")
    await seed(store_url, customer("A", 1, meters=[METER, "meter-just-synced"]))
    status, _ = await binding
    assert status == 200, "answered from the state that includes the sync"
    assert len(publisher.published("powerbox.bind.requests")) == 1


# -- WattShift and Bright ----------------------------------------------------------------


@pytest.mark.parametrize("key", WATTSHIFT_KEYS)
async def test_wattshift_signal_is_published_keyed_by_home(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, key: str
) -> None:
    """Either configured key passes (rotation); the record is keyed by homeId."""
    status, body = await post_json(
        client, "/webhooks/wattshift", price_signal(), {"x-ws-api-key": key}
    )
    assert status == 200, body
    (record,) = publisher.published("wattshift.price-signals")
    assert record.key == b"ws_home_1"


async def test_wattshift_schema_violation_is_422(client: TestClient[Any, Any]) -> None:
    body = price_signal()
    del body["data"]["homeId"]
    status, answer = await post_json(
        client, "/webhooks/wattshift", body, {"x-ws-api-key": WATTSHIFT_KEYS[0]}
    )
    assert status == 422
    assert [e["pointer"] for e in orjson.loads(answer)["errors"]] == ["/data/homeId"]


@pytest.mark.parametrize("kind", ["accountCreated", "accountDeleted", "lastSeen"])
async def test_bright_events_are_published_keyed_by_account(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, kind: str
) -> None:
    status, _ = await post_json(
        client, "/webhooks/bright", bright_event(kind), {"x-api-key": BRIGHT_KEY}
    )
    assert status == 200
    (record,) = publisher.published("bright.events")
    event = decode(record.key, record.value, record.headers)
    assert (record.key, event.type) == (b"br-acct-1", kind)


async def test_bright_personal_data_is_never_echoed_nor_logged(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A 422 about the personal number names the field, not the number or the email."""
    caplog.set_level(logging.DEBUG)
    body = bright_event()
    body["personalNumber"] = "not-a-number-19811218"
    body["email"] = "x"
    status, answer = await post_json(client, "/webhooks/bright", body, {"x-api-key": BRIGHT_KEY})
    assert status == 422
    pointers = {e["pointer"] for e in orjson.loads(answer)["errors"]}
    assert pointers == {"/personalNumber", "/email"}
    for secret in (b"19811218", b"karin.svensson"):
        assert secret not in answer
        assert secret.decode() not in caplog.text


async def test_duplicate_bright_event_without_id_is_recognised(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """Bright sends no event id: an identical body is the same event."""
    body = bright_event("lastSeen")
    for _ in range(2):
        await post_json(client, "/webhooks/bright", body, {"x-api-key": BRIGHT_KEY})
    assert len(publisher.published("bright.events")) == 1


async def test_a_last_seen_without_id_or_time_keeps_moving(
    client: TestClient[Any, Any], publisher: InMemoryPublisher, clock: Clock
) -> None:
    """No eventId, no occurredAt: the same body again within its minute is a retry; the same
    body a minute later is a new report, so last seen moves on."""
    body = {"type": "lastSeen", "accountId": "br-acct-9"}
    clock.offset = 60 - time.time() % 60 + 1  # early in a minute: the retry stays in it
    for _ in range(2):
        status, _ = await post_json(client, "/webhooks/bright", body, {"x-api-key": BRIGHT_KEY})
        assert status == 200
    assert len(publisher.published("bright.events")) == 1
    clock.offset += 61
    await post_json(client, "/webhooks/bright", body, {"x-api-key": BRIGHT_KEY})
    assert len(publisher.published("bright.events")) == 2


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"type": "accountRenamed"}, "/type"),
        ({"email": "x@"}, "/email"),
    ],
)
async def test_bright_types_and_emails_are_checked(
    client: TestClient[Any, Any],
    publisher: InMemoryPublisher,
    change: dict[str, str],
    pointer: str,
) -> None:
    """A type Bright does not document, or an email shorter than 3 characters: 422."""
    status, answer = await post_json(
        client, "/webhooks/bright", bright_event() | change, {"x-api-key": BRIGHT_KEY}
    )
    assert status == 422
    assert [e["pointer"] for e in orjson.loads(answer)["errors"]] == [pointer]
    assert b"x@" not in answer, "a 422 names the field, never its value"
    assert publisher.records == []


def _interval(start: str, end: str, price: float = 0.1) -> dict[str, Any]:
    return {"startTime": start, "endTime": end, "price": price}


@pytest.mark.parametrize(
    ("intervals", "pointers"),
    [
        (
            [_interval("2026-11-22T06:00:00Z", "2026-11-22T05:00:00Z")],
            ["/data/data/0/endTime"],
        ),
        (
            [
                _interval("2026-11-22T00:00:00Z", "2026-11-22T06:00:00Z"),
                _interval("2026-11-22T05:00:00Z", "2026-11-22T08:00:00Z"),
            ],
            ["/data/data/1/startTime"],
        ),
        (
            [
                _interval("2026-11-22T06:00:00Z", "2026-11-22T08:00:00Z"),
                _interval("2026-11-22T00:00:00Z", "2026-11-22T06:00:00Z"),
            ],
            ["/data/data/1/startTime"],
        ),
        (
            [_interval("2026-11-21T23:00:00Z", "2026-11-22T01:00:00Z")],
            ["/data/data/0/startTime"],
        ),
        (
            [_interval("2026-11-22T22:00:00Z", "2026-11-23T01:00:00Z")],
            ["/data/data/0/endTime"],
        ),
    ],
    ids=["ends-before-it-starts", "overlap", "out-of-order", "before-the-signal", "after-it"],
)
async def test_price_signal_intervals_are_checked(
    client: TestClient[Any, Any],
    publisher: InMemoryPublisher,
    intervals: list[dict[str, Any]],
    pointers: list[str],
) -> None:
    """Each interval starts before it ends, in order, without overlap, within the signal."""
    body = price_signal()
    body["data"]["data"] = intervals
    status, answer = await post_json(
        client, "/webhooks/wattshift", body, {"x-ws-api-key": WATTSHIFT_KEYS[0]}
    )
    assert status == 422
    assert [e["pointer"] for e in orjson.loads(answer)["errors"]] == pointers
    assert publisher.records == []


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/webhooks/wattshift", price_signal(), {}),
        ("/webhooks/wattshift", price_signal(), {"x-ws-api-key": "wrong-key-0123456789"}),
        ("/webhooks/bright", bright_event(), {"x-api-key": "wrong-key-0123456789"}),
    ],
)
async def test_missing_or_wrong_api_key_is_401(
    client: TestClient[Any, Any], path: str, body: Any, headers: dict[str, str]
) -> None:
    status, answer = await post_json(client, path, body, headers)
    assert status == 401
    assert b"wrong-key" not in answer


# -- credentials never cross sources ---------------------------------------------------


async def test_a_credential_for_one_source_never_opens_another(
    client: TestClient[Any, Any], publisher: InMemoryPublisher
) -> None:
    """PowerBox tokens, WattShift and Bright keys and Light signatures each open one route."""
    token = bearer(EC.token())
    light_body, light_headers = signed(light_event("enrollment.finalized"), now=time.time())
    attempts = [
        ("/webhooks/light", orjson.loads(light_body), token),
        ("/webhooks/light", orjson.loads(light_body), {"x-ws-api-key": WATTSHIFT_KEYS[0]}),
        ("/webhooks/bright", bright_event(), {"x-ws-api-key": WATTSHIFT_KEYS[0]}),
        ("/webhooks/bright", bright_event(), token),
        ("/webhooks/wattshift", price_signal(), {"x-api-key": BRIGHT_KEY}),
        ("/webhooks/wattshift", price_signal(), token),
        ("/v1/powerbox/customer", customer_payload(), {"Authorization": f"Bearer {BRIGHT_KEY}"}),
        ("/v1/powerbox/customer", customer_payload(), light_headers),
        ("/v1/powerbox/bind", bind_payload(), {"x-ws-api-key": WATTSHIFT_KEYS[0]}),
    ]
    for path, body, headers in attempts:
        status, _ = await post_json(client, path, body, headers)
        assert status == 401, (path, headers.keys())
    assert publisher.records == []


async def test_openapi_describes_every_partner_route(client: TestClient[Any, Any]) -> None:
    """Each route lists the statuses it really answers: PowerBox's without bodies, no 422."""
    document = await (await client.get("/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "/v1/powerbox/customer",
        "/v1/powerbox/bind",
        "/webhooks/wattshift",
        "/webhooks/bright",
        "/webhooks/light",
    ):
        assert "post" in paths[path], path
    schemes = document["components"]["securitySchemes"]
    assert schemes["powerbox"]["scheme"] == "bearer"
    assert schemes["wattshift"]["name"] == "x-ws-api-key"
    assert schemes["bright"]["name"] == "x-api-key"
    bind = paths["/v1/powerbox/bind"]["post"]["responses"]
    assert set(bind) == {"200", "400", "401", "403", "404", "409", "413", "415", "503"}
    customer = paths["/v1/powerbox/customer"]["post"]["responses"]
    assert set(customer) == {"200", "400", "401", "413", "415", "503"}
    for status, response in [*bind.items(), *customer.items()]:
        if status != "200":
            assert "content" not in response, f"PowerBox's {status} has no body"
    assert "422" in paths["/webhooks/bright"]["post"]["responses"]
