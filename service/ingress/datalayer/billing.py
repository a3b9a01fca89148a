"""The Data Layer's invoices: Light is their system of record, so each call asks Light (with
the account's token) and gridhook keeps no copy: an invoice's status is never stale, and when
Light cannot be reached the answer is 503 with `Retry-After`.

The PDF is offered two ways: streamed (`.../stream`, with Bright's API key), or behind a short-
lived signed URL (`.../url` -> `{url, expiresAt}`), whose signature (HMAC-SHA256 under
`GRIDHOOK_URL_SIGNING_KEY` of the account, the invoice and the expiry) is its only credential:
altered or expired, it is refused (403). The URL names the account and invoice ids, never a
personal datum.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import web

from gridhook.contract.answers import json_response
from gridhook.contract.codec import format_time
from gridhook.contract.errors import (
    Forbidden,
    PartnerRefused,
    PartnerUnavailable,
    Unavailable,
    UnknownIdentifier,
)
from gridhook.partners.light import LightBillingApi, LightInvoice
from service.ingress import keys
from service.ingress.datalayer.access import claimed, load_account, mine, require_key

LIGHT = web.AppKey("light_billing", LightBillingApi)
FILES = "/data-layer/v1/invoice-files/{token}"
RETRY_AFTER = "5"

T = TypeVar("T")


async def _light(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except PartnerUnavailable:
        raise Unavailable(
            "Light cannot be reached for invoices", headers={"Retry-After": RETRY_AFTER}
        ) from None


async def _invoices(request: web.Request, account_id: str) -> list[LightInvoice]:
    found = await load_account(request, account_id)
    claimed(request, found.account_id)
    light = request.app[LIGHT]
    try:
        return await _light(lambda: light.invoices(found.account_id))
    except PartnerRefused:
        return []  # Light knows no such account yet: nothing billed


def invoice_json(invoice: LightInvoice) -> dict[str, Any]:
    return {
        "id": invoice.uuid,
        "periodStart": invoice.period_start,
        "periodEnd": invoice.period_end,
        "amountDue": invoice.amount_due_cents / 100,
        "currency": invoice.currency,
        "dueDate": invoice.due_date,
        "status": invoice.status,
    }


async def invoices(request: web.Request) -> web.Response:
    """GET /accounts/{accountId}/invoices."""
    require_key(request)
    found = await _invoices(request, request.match_info["accountId"])
    return json_response([invoice_json(invoice) for invoice in found])


async def _owned(request: web.Request) -> tuple[str, str]:
    """The account and invoice of the path, once the invoice is known to be the account's."""
    require_key(request)
    account_id, invoice_id = request.match_info["accountId"], request.match_info["invoiceId"]
    if all(invoice.uuid != invoice_id for invoice in await _invoices(request, account_id)):
        raise UnknownIdentifier("no invoice with that id on that account")
    return mine(request, account_id), invoice_id


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, b"invoice-file\x00" + payload, hashlib.sha256).digest()


def _url_key(request: web.Request) -> bytes:
    key = request.app[keys.SETTINGS].people.url_key
    if key is None:
        raise Unavailable("invoice URLs are not configured here (GRIDHOOK_URL_SIGNING_KEY)")
    return key


async def invoice_url(request: web.Request) -> web.Response:
    """GET /accounts/{accountId}/invoices/{invoiceId}/url -> {url, expiresAt}."""
    account_id, invoice_id = await _owned(request)
    key = _url_key(request)
    lifetime = request.app[keys.SETTINGS].people.invoice_url_seconds
    expires = int(request.app[keys.CLOCK]() + lifetime)
    payload = orjson.dumps({"a": account_id, "i": invoice_id, "e": expires})
    token = f"{_b64(payload)}.{_b64(_signature(key, payload))}"
    url = f"{request.url.origin()}{FILES.replace('{token}', token)}"
    expires_at = format_time(datetime.fromtimestamp(expires, UTC))
    return json_response({"url": url, "expiresAt": expires_at})


async def _pdf(request: web.Request, account_id: str, invoice_id: str) -> web.Response:
    light = request.app[LIGHT]
    try:
        pdf = await _light(lambda: light.invoice_pdf(account_id, invoice_id))
    except PartnerRefused:
        raise UnknownIdentifier("no invoice with that id on that account") from None
    disposition = f'inline; filename="invoice-{invoice_id}.pdf"'
    return web.Response(
        body=pdf, content_type="application/pdf", headers={"Content-Disposition": disposition}
    )


async def invoice_stream(request: web.Request) -> web.Response:
    """GET /accounts/{accountId}/invoices/{invoiceId}/stream: the PDF."""
    account_id, invoice_id = await _owned(request)
    return await _pdf(request, account_id, invoice_id)


async def invoice_file(request: web.Request) -> web.Response:
    """GET /invoice-files/{token}: the PDF a signed URL names, until it expires (no API key:
    the signature is the credential)."""
    key = _url_key(request)
    refused = Forbidden("the link is invalid or has expired")
    try:
        payload_text, signature_text = request.match_info["token"].split(".", 1)
        payload, signature = _unb64(payload_text), _unb64(signature_text)
        claims = orjson.loads(payload)
        account_id, invoice_id, expires = str(claims["a"]), str(claims["i"]), int(claims["e"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise refused from None
    if not hmac.compare_digest(signature, _signature(key, payload)):
        raise refused
    if request.app[keys.CLOCK]() > expires:
        raise refused
    return await _pdf(request, account_id, invoice_id)
