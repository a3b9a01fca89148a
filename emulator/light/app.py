"""The Light API emulator as an aiohttp application (`gridhook emulator light`).

The client-agent endpoints of seed 002, with Light's base path `/v1`:

- `POST /v1/app/accounts` (app token): create an account; body `{uuid?, identity_verified?,
  payment_method?, billing_address_confirmed?, credit_frozen_days?}`, every prerequisite done
  unless it says `false` (an emulator convenience: Light's own creation takes more).
- `GET /v1/app/accounts/{uuid}` (app token): the account, its `status` and `locations`.
- `POST /v1/app/accounts/{uuid}/record-client-agent` (app token):
  `{client_agent_accepted_at?}`, default now.
- `POST /v1/app/accounts/{uuid}/enroll/plans/request` (app token): `{esi_id}` ->
  `{plans: [{uuid, name, term_months, price_cents_per_kwh, expires_at}]}`.
- `POST /v1/app/accounts/{uuid}/tokens` (app token): an account token for 60 minutes,
  `{token, expires_in}` (**assumed**: no seed says how an account token is minted).
- `POST /v1/account/enroll/plans/accept` (account token): `{plan_uuid, esi_id,
  service_start_date, terms_accepted}`.
- `GET /v1/account/locations/{uuid}/usage?start_date=&end_date=` (account token, at most 31
  days): `{location_uuid, interval_minutes: 15, intervals: [{start, kwh}]}`, the days from the
  service start to yesterday (Light's usage lags a day), each the household profile's import
  (`emulator.household`, solar by ESI ID from `GRIDHOOK_EMULATOR_SOLAR_HOMES`) to the Wh.
- `GET /v1/account/billing/invoices` (account token): `{invoices: [{uuid, period_start,
  period_end, amount_due_cents, currency, due_date, status}]}`, one per whole month of service
  (`emulator.light.billing`); `GET /v1/account/billing/invoices/{uuid}/pdf`: its PDF.

Refusals are `{"error": {"code": ...}}` with a 4xx: 401 `invalid_token`, 404
`account_not_found`/`plan_not_found`, 403 `client_agent_not_recorded`, 409
`plan_already_accepted`/`plan_expired`/`credit_check_frozen`/`enrollment_incomplete`, 400
`invalid_request`/`terms_not_accepted`/`esi_id_mismatch`/`invalid_service_start_date`. Every
answer's `Date` header is Light's time. After an accept, the signed webhooks go to gridhook's
ingress from the outbox (`emulator.outbox`). For tests and operators, unauthenticated:
`GET /v1/emulator/calls[?account=uuid]` (every client-agent call and its outcome) and
`GET /v1/emulator/webhooks`.
"""

from __future__ import annotations

import hmac
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from emulator import outbox, server
from emulator.faults import fault_middleware
from emulator.household import Household, usage_of_day
from emulator.light import billing
from emulator.light.state import LightState
from emulator.partner_api import Refused, error_response, json_body
from emulator.scaled_time import start_of
from gridhook.contract.answers import json_response
from gridhook.contract.codec import format_time
from gridhook.contract.settings import PartnerEmulatorSettings, SignatureScheme
from gridhook.contract.signatures import sign

log = logging.getLogger("gridhook.emulator.light")

STATE = web.AppKey("light_state", LightState)
SETTINGS = web.AppKey("light_settings", PartnerEmulatorSettings)
DELIVERER = web.AppKey("light_deliverer", outbox.Deliverer)


@web.middleware
async def _light_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals as Light's error bodies; Light's clock in every `Date` header."""
    try:
        response = await handler(request)
    except Refused as refused:
        response = error_response(refused.status, refused.code)
    if request.app.get(STATE) is not None:
        response.headers["Date"] = format_datetime(request.app[STATE].calendar.now(), usegmt=True)
    return response


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Refused(401, "invalid_token")
    return token.strip()


def _app_token(request: web.Request) -> None:
    expected = request.app[SETTINGS].credential
    offered = _bearer(request)
    if expected is None or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise Refused(401, "invalid_token")


async def create_account(request: web.Request) -> web.Response:
    _app_token(request)
    account = await request.app[STATE].create_account(await json_body(request))
    return json_response(account, status=201)


async def get_account(request: web.Request) -> web.Response:
    _app_token(request)
    return json_response(await request.app[STATE].account_json(request.match_info["uuid"]))


async def record_client_agent(request: web.Request) -> web.Response:
    _app_token(request)
    body = await json_body(request)
    at = body.get("client_agent_accepted_at")
    if at is not None and not isinstance(at, str):
        raise Refused(400, "invalid_request")
    state, account_uuid = request.app[STATE], request.match_info["uuid"]
    await state.record_client_agent(account_uuid, at)
    return json_response(await state.account_json(account_uuid))


async def request_plans(request: web.Request) -> web.Response:
    _app_token(request)
    esi_id = (await json_body(request)).get("esi_id")
    if not isinstance(esi_id, str) or not (esi_id.isdigit() and len(esi_id) == 17):
        raise Refused(400, "invalid_esi_id")
    plans = await request.app[STATE].request_plans(request.match_info["uuid"], esi_id)
    return json_response({"plans": plans})


async def mint_token(request: web.Request) -> web.Response:
    _app_token(request)
    return json_response(await request.app[STATE].mint_token(request.match_info["uuid"]))


async def accept_plan(request: web.Request) -> web.Response:
    state = request.app[STATE]
    account_uuid = await state.account_of_token(_bearer(request))
    if account_uuid is None:
        raise Refused(401, "invalid_token")
    account = await state.accept(account_uuid, await json_body(request))
    request.app[DELIVERER].wake()
    log.info("plan accepted", extra={"fields": {"account": account_uuid}})
    return json_response(account)


MOST_USAGE_DAYS = 31


async def usage(request: web.Request) -> web.Response:
    state = request.app[STATE]
    account_uuid = await state.account_of_token(_bearer(request))
    if account_uuid is None:
        raise Refused(401, "invalid_token")
    try:
        first = date.fromisoformat(request.query["start_date"])
        last = date.fromisoformat(request.query["end_date"])
    except (KeyError, ValueError):
        raise Refused(400, "invalid_date_range") from None
    if last < first or (last - first).days >= MOST_USAGE_DAYS:
        raise Refused(400, "invalid_date_range")
    location_uuid = request.match_info["uuid"]
    esi_id, service_start = await state.usage_location(account_uuid, location_uuid)
    home = Household(request.app[SETTINGS].solar_kw.get(esi_id, 0.0))
    yesterday = state.calendar.today() - timedelta(days=1)
    day, intervals = max(first, service_start), []
    while day <= min(last, yesterday):
        intervals += [
            {"start": format_time(datetime.fromtimestamp(start, UTC)), "kwh": kwh}
            for start, kwh in usage_of_day(home, start_of(day).timestamp())
        ]
        day += timedelta(days=1)
    return json_response(
        {"location_uuid": location_uuid, "interval_minutes": 15, "intervals": intervals}
    )


async def _account_invoices(request: web.Request) -> tuple[str, list[billing.Invoice]]:
    """The account of the request's account token, and its invoices to this day."""
    state = request.app[STATE]
    account_uuid = await state.account_of_token(_bearer(request))
    if account_uuid is None:
        raise Refused(401, "invalid_token")
    enrolled = await state.billing(account_uuid)
    if enrolled is None:
        return "", []
    number, location, esi_id, start, cents = enrolled
    home = Household(request.app[SETTINGS].solar_kw.get(esi_id, 0.0))
    return number, billing.invoices(location, start, cents, home, state.calendar.today())


async def invoices(request: web.Request) -> web.Response:
    _, found = await _account_invoices(request)
    return json_response({"invoices": [invoice.to_json() for invoice in found]})


async def invoice_pdf(request: web.Request) -> web.Response:
    number, found = await _account_invoices(request)
    wanted = request.match_info["invoice_uuid"]
    for invoice in found:
        if invoice.uuid == wanted:
            return web.Response(body=billing.pdf(invoice, number), content_type="application/pdf")
    raise Refused(404, "invoice_not_found")


async def calls(request: web.Request) -> web.Response:
    return json_response(await request.app[STATE].calls(request.query.get("account")))


async def webhooks(request: web.Request) -> web.Response:
    return json_response(await outbox.deliveries(request.app[STATE].db))


def _partner_call(request: web.Request) -> bool:
    """The calls faults are injected into: the client-agent calls, not account creation
    (which stands in for the customer's own sign-up)."""
    if request.method == "POST" and request.path == "/v1/app/accounts":
        return False
    return request.path.startswith(("/v1/app/", "/v1/account/"))


def create_app(
    settings: PartnerEmulatorSettings,
    scheme: SignatureScheme = "standard-webhooks",
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The Light emulator; its state lives in `settings.database`."""
    faults = fault_middleware(settings.faults, rng or random.Random(), _partner_call)
    app = web.Application(middlewares=[_light_answers, faults])
    app[SETTINGS] = settings
    app[STATE] = LightState(settings.database, settings.calendar, settings.stale_plans, clock)
    app[DELIVERER] = outbox.Deliverer(
        settings.database, settings.webhook_url, _signer(settings, scheme)
    )
    app.router.add_post("/v1/app/accounts", create_account)
    app.router.add_get("/v1/app/accounts/{uuid}", get_account)
    app.router.add_post("/v1/app/accounts/{uuid}/record-client-agent", record_client_agent)
    app.router.add_post("/v1/app/accounts/{uuid}/enroll/plans/request", request_plans)
    app.router.add_post("/v1/app/accounts/{uuid}/tokens", mint_token)
    app.router.add_post("/v1/account/enroll/plans/accept", accept_plan)
    app.router.add_get("/v1/account/locations/{uuid}/usage", usage)
    app.router.add_get("/v1/account/billing/invoices", invoices)
    app.router.add_get("/v1/account/billing/invoices/{invoice_uuid}/pdf", invoice_pdf)
    app.router.add_get("/v1/emulator/calls", calls)
    app.router.add_get("/v1/emulator/webhooks", webhooks)
    app.router.add_get("/healthz", server.healthz)
    app.cleanup_ctx.append(server.lifecycle(STATE, DELIVERER))
    return app


def _signer(settings: PartnerEmulatorSettings, scheme: SignatureScheme) -> outbox.SignHeaders:
    secret = settings.webhook_secret

    def headers(body: bytes, event_id: str) -> Mapping[str, str]:
        if secret is None:
            return {}
        return sign(scheme, secret, body, event_id, int(time.time()))

    return headers


def serve(settings: PartnerEmulatorSettings, scheme: SignatureScheme) -> int:
    """`gridhook emulator light`: serve until SIGTERM/SIGINT."""
    build = lambda: create_app(settings, scheme)  # noqa: E731 (named for the line's length)
    return server.serve(build, settings.host, settings.port, "Light emulator")
