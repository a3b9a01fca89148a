"""The WattShift API emulator as an aiohttp application (`gridhook emulator wattshift`).

Seed 001's onboarding calls, authenticated with `x-ws-api-key`:

- `POST /v1/utility/get` `{zipcode}` -> `[{utilityId, utilityName, wsRatePlans: [{id,
  ratePlanName}]}]`;
- `POST /v1/homes/create` `{name, zipcode, utilityId, ratePlanId, has*?, acType?}` -> `{id}`
  (201; 200 with the same id when its `Idempotency-Key` was seen before);
- `POST /v1/homes/solar/create` `{homeId, solarSystemSizeKw, isNonNetMetered}` -> `{homeId}`.

Refusals are `{"error": {"code": ...}}`: 401 `invalid_api_key`, 400 `invalid_request`,
`unknown_utility`, `unknown_rate_plan`, 404 `home_not_found`. A new home's prices go to
gridhook's ingress as a `price_signal.updated` webhook (with the `x-ws-api-key` gridhook
expects). Unauthenticated, for tests and operators: `GET /v1/emulator/homes/{id}`,
`GET /v1/emulator/calls`, `GET /v1/emulator/webhooks`.
"""

from __future__ import annotations

import hmac
import logging
import random
from collections.abc import Mapping

from aiohttp import web

from emulator import outbox, server
from emulator.faults import fault_middleware
from emulator.partner_api import Refused, json_body, refusals
from emulator.wattshift.state import WattShiftState, utilities
from gridhook.contract.answers import json_response
from gridhook.contract.settings import PartnerEmulatorSettings

log = logging.getLogger("gridhook.emulator.wattshift")

STATE = web.AppKey("wattshift_state", WattShiftState)
SETTINGS = web.AppKey("wattshift_settings", PartnerEmulatorSettings)
DELIVERER = web.AppKey("wattshift_deliverer", outbox.Deliverer)

_REQUIRED_HOME = {"name": str, "zipcode": str, "utilityId": str, "ratePlanId": str}


def _api_key(request: web.Request) -> None:
    expected = request.app[SETTINGS].credential
    offered = request.headers.get("x-ws-api-key", "")
    if expected is None or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise Refused(401, "invalid_api_key")


async def get_utility(request: web.Request) -> web.Response:
    _api_key(request)
    zipcode = (await json_body(request)).get("zipcode")
    if not isinstance(zipcode, str) or not (zipcode.isdigit() and len(zipcode) == 5):
        raise Refused(400, "invalid_request")
    found = utilities(zipcode)
    await request.app[STATE].log("utility/get", zipcode, f"{len(found)} utilities")
    return json_response(found)


async def create_home(request: web.Request) -> web.Response:
    _api_key(request)
    body = await json_body(request)
    if any(not isinstance(body.get(name), kind) for name, kind in _REQUIRED_HOME.items()):
        raise Refused(400, "invalid_request")
    home = await request.app[STATE].create_home(body, request.headers.get("Idempotency-Key"))
    if home.created:
        request.app[DELIVERER].wake()
    return json_response({"id": home.id}, status=201 if home.created else 200)


async def create_solar(request: web.Request) -> web.Response:
    _api_key(request)
    body = await json_body(request)
    home_id, size = body.get("homeId"), body.get("solarSystemSizeKw")
    if not isinstance(home_id, str) or not isinstance(size, int | float) or size <= 0:
        raise Refused(400, "invalid_request")
    await request.app[STATE].add_solar(home_id, float(size), bool(body.get("isNonNetMetered")))
    return json_response({"homeId": home_id}, status=201)


async def home(request: web.Request) -> web.Response:
    return json_response(await request.app[STATE].home(request.match_info["home_id"]))


async def calls(request: web.Request) -> web.Response:
    return json_response(await request.app[STATE].calls())


async def webhooks(request: web.Request) -> web.Response:
    return json_response(await outbox.deliveries(request.app[STATE].db))


def _api_call(request: web.Request) -> bool:
    return request.path.startswith(("/v1/utility/", "/v1/homes/"))


def _signer(settings: PartnerEmulatorSettings) -> outbox.SignHeaders:
    key = settings.webhook_secret

    def headers(body: bytes, event_id: str) -> Mapping[str, str]:
        return {} if key is None else {"x-ws-api-key": key}

    return headers


def create_app(
    settings: PartnerEmulatorSettings, rng: random.Random | None = None
) -> web.Application:
    """The WattShift emulator; its state lives in `settings.database`."""
    faults = fault_middleware(settings.faults, rng or random.Random(), _api_call)
    app = web.Application(middlewares=[refusals, faults])
    app[SETTINGS] = settings
    app[STATE] = WattShiftState(settings.database, settings.calendar)
    app[DELIVERER] = outbox.Deliverer(settings.database, settings.webhook_url, _signer(settings))
    app.router.add_post("/v1/utility/get", get_utility)
    app.router.add_post("/v1/homes/create", create_home)
    app.router.add_post("/v1/homes/solar/create", create_solar)
    app.router.add_get("/v1/emulator/homes/{home_id}", home)
    app.router.add_get("/v1/emulator/calls", calls)
    app.router.add_get("/v1/emulator/webhooks", webhooks)
    app.router.add_get("/healthz", server.healthz)
    app.cleanup_ctx.append(server.lifecycle(STATE, DELIVERER))
    return app


def serve(settings: PartnerEmulatorSettings) -> int:
    """`gridhook emulator wattshift`: serve until SIGTERM/SIGINT."""
    return server.serve(
        lambda: create_app(settings), settings.host, settings.port, "WattShift emulator"
    )
