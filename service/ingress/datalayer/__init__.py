"""Bright Energy's Data Layer (seed 003), served by the ingress from gridhook's state under
`/data-layer/v1`, with Bright's API key (`x-api-key`). Paths and shapes are REFERENCE's
(assumed: seed 003 publishes none), documented in `/data-layer/v1/openapi.json`.

Modules: `access` (the key, the account an id belongs to, the acting user), `reads` (search,
account, roles, locations, agreements, products, measurements, cost), `billing` (invoices from
Light, the PDF streamed or behind a signed URL), `users` (update a user, add a Guest),
`document` (the OpenAPI document).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gridhook.contract.errors import SchemaViolation
from service.ingress.datalayer import billing, reads, users
from service.ingress.problems import ErrorStyle

PREFIX = "/data-layer/v1"
DATA_LAYER = ErrorStyle(statuses={SchemaViolation: 400})
"""Problem bodies, and 400 for a body that does not match its schema."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ROUTES: tuple[tuple[str, str, Handler, str], ...] = (
    ("POST", "/accounts/search", reads.search, "Search for account (personal number or email)."),
    ("GET", "/accounts/{accountId}", reads.account, "Get account: the user profile view."),
    ("GET", "/accounts/{accountId}/roles", reads.roles, "Get user roles for account."),
    ("GET", "/accounts/{accountId}/locations", reads.locations, "Get locations and services."),
    ("GET", "/services/{serviceId}/agreements", reads.agreements, "Get agreements."),
    ("GET", "/accounts/{accountId}/invoices", billing.invoices, "Get account invoices."),
    ("GET", "/measurements/{measurementId}", reads.measurements, "Get measurements for service."),
    ("GET", "/services/{serviceId}/products", reads.products, "Get products."),
    ("GET", "/costs/{costId}", reads.costs, "Get cost for a service."),
    (
        "GET",
        "/accounts/{accountId}/invoices/{invoiceId}/url",
        billing.invoice_url,
        "Get account invoice url: a short-lived signed URL of the PDF.",
    ),
    (
        "GET",
        "/accounts/{accountId}/invoices/{invoiceId}/stream",
        billing.invoice_stream,
        "Get account invoice stream: the PDF.",
    ),
    ("GET", "/invoice-files/{token}", billing.invoice_file, "The PDF a signed URL names."),
    ("PATCH", "/users/{userId}", users.update_user, "Update user (phone number, email)."),
    ("POST", "/accounts/{accountId}/users", users.add_user, "Add user to account (a Guest)."),
)
"""Method, path under PREFIX, handler, summary: in seed 003's order."""


def add_routes(app: web.Application) -> None:
    for method, path, handler, _ in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)


def paths() -> list[str]:
    return [PREFIX + path for _, path, _, _ in ROUTES]
