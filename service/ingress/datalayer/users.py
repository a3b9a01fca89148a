"""The Data Layer's mutations: update a user (their phone number, email address) and add a
Guest to an account. The acting user (`X-Acting-User-Id`) is checked against the REFERENCE's
rules: an Owner may add users to their account; a user may update themself, an Owner anyone on
their account; anything else is 403.

A mutation seals the new fields with the person's own key, publishes the person's whole sealed
record to `gridhook.people` (keyed by user id), and answers once Kafka has it and the state
applier has applied it (or `GRIDHOOK_READ_YOUR_WRITES_WAIT` passed: the change is durable
either way).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gridhook.contract import schemas, topics
from gridhook.contract.answers import json_response
from gridhook.contract.codec import CloudEvent, encode, format_time
from gridhook.contract.errors import Forbidden, GridhookError, UnknownIdentifier
from gridhook.contract.event_types import PERSON_UPDATED
from gridhook.contract.identifiers import content_hash
from gridhook.state.people import GUEST, OWNER, PersonView, new_guest_id
from service.ingress import keys
from service.ingress.datalayer.access import (
    ACTING_USER,
    claimed,
    load_account,
    person_of,
    personal_of,
    require_key,
)
from service.ingress.datalayer.reads import json_body
from service.ingress.pipeline import unavailable

UPDATE = schemas.validator("datalayer/update-user.json")
ADD = schemas.validator("datalayer/add-user.json")
SOURCE = "datalayer"


async def _acting(request: web.Request) -> PersonView:
    """The user the mutation acts for; 403 when not named or not known."""
    acting = request.headers.get(ACTING_USER)
    if not acting:
        raise Forbidden(f"name the acting user in {ACTING_USER}")
    try:
        return await person_of(request, acting, claim=False)
    except UnknownIdentifier:
        raise Forbidden("the acting user may not do this") from None


async def update_user(request: web.Request) -> web.Response:
    """PATCH /users/{userId} {phoneNumber?, emailAddress?} -> {id}."""
    require_key(request)
    target = await person_of(request, request.match_info["userId"])
    acting = await _acting(request)
    may = acting.person_id == target.person_id or (
        acting.role == OWNER and acting.account_id == target.account_id
    )
    if not may:
        raise Forbidden("the acting user may not update this user")
    document = await json_body(request, UPDATE)
    changes = {
        name: document[field]
        for field, name in (("phoneNumber", "phone"), ("emailAddress", "email"))
        if field in document
    }
    resealed = await _guarded(personal_of(request).reseal(target, changes))
    if resealed is None:
        raise UnknownIdentifier("no user with that id")
    await _publish(request, target.person_id, target.account_id or "", target.role, resealed)
    return json_response({"id": target.person_id})


async def add_user(request: web.Request) -> web.Response:
    """POST /accounts/{accountId}/users {name, emailAddress, phoneNumber?} -> 201 {id}."""
    require_key(request)
    account = await load_account(request, request.match_info["accountId"])
    claimed(request, account.account_id)
    acting = await _acting(request)
    if acting.role != OWNER or acting.account_id != account.account_id:
        raise Forbidden("only an Owner of the account may add users to it")
    document = await json_body(request, ADD)
    guest = new_guest_id()
    fields = {
        "name": document["name"],
        "email": document["emailAddress"],
        "phone": document.get("phoneNumber"),
    }
    sealed = await _guarded(personal_of(request).seal(guest, fields))
    await _publish(request, guest, account.account_id, GUEST, sealed)
    return json_response({"id": guest}, status=201)


async def _guarded(work: Any) -> Any:
    try:
        return await work
    except GridhookError:
        raise unavailable("the key store is not reachable") from None


async def _publish(
    request: web.Request,
    person_id: str,
    account_id: str,
    role: str,
    sealed: dict[str, dict[str, str]],
) -> None:
    """Publish the person's sealed record, then wait (bounded) for the applier to apply it."""
    app = request.app
    now = datetime.fromtimestamp(app[keys.CLOCK](), UTC)
    record = {
        "personId": person_id,
        "accountId": account_id,
        "role": role,
        **sealed,
        "occurredAt": format_time(now),
    }
    event = CloudEvent(
        id=f"{person_id}:{content_hash(record)}",
        source=SOURCE,
        type=PERSON_UPDATED,
        time=now,
        key=person_id.encode(),
        data=orjson.dumps(record),
    )
    try:
        async with asyncio.timeout(app[keys.SETTINGS].http.publish_timeout):
            await app[keys.PUBLISHER].publish(topics.PEOPLE, encode(event))
        await app[keys.APPLIER_PROGRESS].caught_up(topics.PEOPLE)
    except (TimeoutError, GridhookError):
        raise unavailable("Kafka did not take the change") from None
