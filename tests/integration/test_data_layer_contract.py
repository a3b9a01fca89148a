"""The Data Layer against its own OpenAPI document, with schemathesis: generated calls to every
operation (with Bright's key) are answered with a documented status, content type and shape,
and never a server error; so are the seeded account's own calls. The ingress and the Light
emulator run as real processes on the real broker."""

from __future__ import annotations

import asyncio
import base64
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from gridhook.contract.codec import CloudEvent
from gridhook.contract.personal import MasterKeys
from gridhook.contract.topics import INSTALLATIONS
from gridhook.state.keystore import KeyStore
from gridhook.state.people import owner_id
from gridhook.state.personal_data import PersonalData
from gridhook.state.store import Store
from gridhook.state.transitions import RECONCILERS
from tests.support.processes import free_port, gridhook_process, http_ok
from tests.support.state_events import Recorded, applications
from tests.support.waiting import eventually

API_KEY = "bright-contract-key-0123456789"
ACCOUNT = "acct-contract-1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def _seed(workdir: Path, environment: dict[str, str]) -> str:
    """An account whose owner an installation named; the owner's user id."""
    master = MasterKeys.parse((environment["GRIDHOOK_MASTER_KEYS"],), "test")
    assert master is not None
    keys = KeyStore(environment["GRIDHOOK_KEYS_DATABASE_URL"], master, writer=True)
    await keys.migrate()
    personal = PersonalData(keys, base64.b64decode(environment["GRIDHOOK_BLIND_INDEX_KEY"]))
    person = owner_id(ACCOUNT)
    sealed = await personal.seal(person, {"name": "Eva Holm", "email": "eva@example.se"})
    await keys.close()
    document = {
        "installationId": "inst-contract",
        "lightAccountUuid": ACCOUNT,
        "meterId": "m-contract",
        "customer": {"personId": person, **sealed},
    }
    event = CloudEvent(
        "inst-contract:1", "installations", "installation.created", datetime.now(UTC),
        b"inst-contract", orjson.dumps(document),
    )  # fmt: skip
    store = Store(environment["GRIDHOOK_DATABASE_URL"], writer=True)
    await store.migrate()
    await store.apply(applications([Recorded(INSTALLATIONS, event, 0)]), reconcilers=RECONCILERS)
    await store.close()
    return person


async def test_every_operation_answers_as_documented(kafka: str, tmp_path: Path) -> None:
    """schemathesis: for every operation, generated calls and the seeded account's own get a
    documented status, content type and body, never a 5xx (Light answering)."""
    light_port, port = free_port(), free_port()
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_LOG_FORMAT": "json",
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "GRIDHOOK_KEYS_DATABASE_URL": f"sqlite:///{tmp_path / 'keys.db'}",
        "GRIDHOOK_MASTER_KEYS": f"k1:{_key()}",
        "GRIDHOOK_BLIND_INDEX_KEY": _key(),
        "GRIDHOOK_URL_SIGNING_KEY": "contract-url-key-0123456789abcdef0123",
        "GRIDHOOK_BRIGHT_API_KEYS": API_KEY,
        "GRIDHOOK_READ_YOUR_WRITES_WAIT": "0.2",
        "GRIDHOOK_LIGHT_APP_TOKEN": "contract-light-app-token",
        "GRIDHOOK_LIGHT_API_URL": f"http://127.0.0.1:{light_port}",
        "GRIDHOOK_LIGHT_EMULATOR_PORT": str(light_port),
        "GRIDHOOK_LIGHT_EMULATOR_DB": str(tmp_path / "light.db"),
    }
    owner = await _seed(tmp_path, environment)
    base = f"http://127.0.0.1:{port}"
    async with (
        gridhook_process(["emulator", "light"], environment, tmp_path / "light.log"),
        gridhook_process(["ingress"], environment, tmp_path / "ingress.log"),
    ):
        await eventually(lambda: http_ok(f"{base}/readyz"), 60, "the ingress")
        await eventually(lambda: http_ok(f"http://127.0.0.1:{light_port}/healthz"), 60, "Light")
        await asyncio.to_thread(_run_schemathesis, base, owner)


def _run_schemathesis(base: str, owner: str) -> None:
    document = requests.get(f"{base}/data-layer/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"x-api-key": API_KEY}
    session = requests.Session()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), "every operation of the document is valid"
        operation = result.ok()

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def generated(case: Any) -> None:
            response = case.call(base_url=base, session=session, headers=headers)
            case.validate_response(response, checks=CHECKS)

        generated()
    seeded = {
        "/data-layer/v1/accounts/{accountId}": {"accountId": ACCOUNT},
        "/data-layer/v1/accounts/{accountId}/roles": {"accountId": ACCOUNT},
        "/data-layer/v1/accounts/{accountId}/locations": {"accountId": ACCOUNT},
        "/data-layer/v1/accounts/{accountId}/invoices": {"accountId": ACCOUNT},
    }
    for path, parameters in seeded.items():
        operation = schema[path]["GET"]
        case = operation.Case(path_parameters=parameters)
        response = case.call(base_url=base, session=session, headers=headers)
        assert response.status_code == 200, (path, response.status_code)
        case.validate_response(response, checks=CHECKS)
    search = schema["/data-layer/v1/accounts/search"]["POST"]
    case = search.Case(body={"email": "EVA@example.se"}, media_type="application/json")
    response = case.call(base_url=base, session=session, headers=headers)
    assert response.json() == {"accountId": ACCOUNT}
    update = schema["/data-layer/v1/users/{userId}"]["PATCH"]
    case = update.Case(
        path_parameters={"userId": owner},
        body={"phoneNumber": "+46 70 555 00 11"},
        headers={"X-Acting-User-Id": owner},
        media_type="application/json",
    )
    response = case.call(base_url=base, session=session, headers=headers)
    assert response.status_code == 200
    case.validate_response(response, checks=CHECKS)
