"""The Data Layer's OpenAPI 3.1 document (`GET /data-layer/v1/openapi.json`), built from its
routes, its request schemas and the shapes below; schemathesis runs against it in the tests."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gridhook.contract import schemas
from gridhook.contract.answers import json_response
from service.ingress.datalayer import PREFIX, ROUTES
from service.ingress.datalayer.access import ACTING_USER, API_KEY, CLAIMED_ACCOUNT

DOCUMENT = web.AppKey("data_layer_document", dict[str, Any])

_TEXT: dict[str, Any] = {"type": "string"}
_NULLABLE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
_USER = {
    "type": "object",
    "required": ["id", "name", "emailAddress", "phoneNumber"],
    "properties": {
        "id": _TEXT,
        "name": _NULLABLE_TEXT,
        "emailAddress": _NULLABLE_TEXT,
        "phoneNumber": _NULLABLE_TEXT,
    },
}
_ID = {"type": "object", "required": ["id"], "properties": {"id": _TEXT}}
_INTERVALS = {"type": "array", "items": {"type": "object"}}
ANSWERS: dict[str, dict[str, Any]] = {
    "/accounts/search": {
        "type": "object",
        "required": ["accountId"],
        "properties": {"accountId": _TEXT},
    },
    "/accounts/{accountId}": {
        "type": "object",
        "required": ["id", "status", "owner"],
        "properties": {
            "id": _TEXT,
            "status": _TEXT,
            "owner": {"anyOf": [_USER, {"type": "null"}]},
            "locations": {"type": "integer"},
            "users": {"type": "integer"},
        },
    },
    "/accounts/{accountId}/roles": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["role", "user"],
            "properties": {"role": {"enum": ["owner", "guest"]}, "user": _USER},
        },
    },
    "/accounts/{accountId}/locations": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "services"],
            "properties": {
                "id": _TEXT,
                "address": {"type": "object"},
                "services": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "kind", "measurementId", "costId"],
                        "properties": {
                            "id": _TEXT,
                            "kind": {"const": "electricity"},
                            "status": _NULLABLE_TEXT,
                            "measurementId": _TEXT,
                            "costId": _TEXT,
                        },
                    },
                },
            },
        },
    },
    "/services/{serviceId}/agreements": {"type": "array", "items": {"type": "object"}},
    "/services/{serviceId}/products": {"type": "array", "items": {"type": "object"}},
    "/accounts/{accountId}/invoices": {"type": "array", "items": {"type": "object"}},
    "/measurements/{measurementId}": {
        "type": "object",
        "required": ["unit", "intervals"],
        "properties": {"unit": {"const": "kWh"}, "intervals": _INTERVALS},
    },
    "/costs/{costId}": {
        "type": "object",
        "required": ["currency", "intervals", "total"],
        "properties": {"currency": _TEXT, "intervals": _INTERVALS, "total": _NUMBER},
    },
    "/accounts/{accountId}/invoices/{invoiceId}/url": {
        "type": "object",
        "required": ["url", "expiresAt"],
        "properties": {"url": _TEXT, "expiresAt": _TEXT},
    },
    "/users/{userId}": _ID,
    "/accounts/{accountId}/users": _ID,
}
BODIES = {
    "/accounts/search": "datalayer/search.json",
    "/users/{userId}": "datalayer/update-user.json",
    "/accounts/{accountId}/users": "datalayer/add-user.json",
}
PDF = ("/accounts/{accountId}/invoices/{invoiceId}/stream", "/invoice-files/{token}")
_QUERY = [
    ("from", _TEXT, "RFC 3339 time or date (UTC); default: the last day with data."),
    ("to", _TEXT, "RFC 3339 time or date (UTC), after `from`; at most 200 days later."),
    ("resolution", {"enum": ["15m", "1h", "1d"]}, "Bucket size (default 15m)."),
    ("source", {"enum": ["best", "han", "light"]}, "Which source (default best)."),
]
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


_WHY = {
    "400": "A malformed body or query.",
    "401": "No valid x-api-key.",
    "403": "The acting user may not make this change; or the link was altered or expired.",
    "404": "Unknown id, or an id of another account than the one claimed.",
    "413": "The body is too large.",
    "415": "The body is not application/json.",
    "503": "The store, the key store, Kafka or Light cannot be reached: retry after a while.",
}
_READ = ("401", "404", "503")
_WRITE = ("400", "401", "403", "404", "413", "415", "503")
REFUSALS: dict[str, tuple[str, ...]] = {
    "/accounts/search": ("400", "401", "404", "413", "415", "503"),
    "/measurements/{measurementId}": ("400", *_READ),
    "/costs/{costId}": ("400", *_READ),
    "/invoice-files/{token}": ("403", "404", "503"),
    "/users/{userId}": _WRITE,
    "/accounts/{accountId}/users": _WRITE,
}
"""The statuses other than success each route answers (`_READ` unless listed)."""


def _refusals(path: str) -> dict[str, Any]:
    return {
        status: {"description": _WHY[status], "content": _PROBLEM}
        for status in REFUSALS.get(path, _READ)
    }


def _operation(method: str, path: str, summary: str) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", path)
    ]
    if path in ("/measurements/{measurementId}", "/costs/{costId}"):
        parameters += [
            {"name": name, "in": "query", "schema": schema, "description": text}
            for name, schema, text in _QUERY
        ]
    if method != "GET":
        parameters.append(
            {
                "name": ACTING_USER,
                "in": "header",
                "required": path != "/accounts/search",
                "schema": {"type": "string"},
                "description": "The user the change is made for (mutations only).",
            }
        )
    parameters.append(
        {
            "name": CLAIMED_ACCOUNT,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "The account the caller acts within: an id of another answers 404.",
        }
    )
    ok = "201" if path == "/accounts/{accountId}/users" else "200"
    content = (
        {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
        if path in PDF
        else {"application/json": {"schema": ANSWERS[path]}}
    )
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": re.sub(r"[^a-zA-Z]+", "_", f"{method.lower()}{path}").strip("_"),
        "parameters": parameters,
        "responses": {ok: {"description": "OK", "content": content}, **_refusals(path)},
    }
    if path != "/invoice-files/{token}":
        operation["security"] = [{"apiKey": []}]
    if path in BODIES:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.dereferenced(BODIES[path])}},
        }
    return operation


def build() -> dict[str, Any]:
    """The Data Layer's OpenAPI 3.1 document."""
    paths: dict[str, Any] = {}
    for method, path, _, summary in ROUTES:
        paths.setdefault(PREFIX + path, {})[method.lower()] = _operation(method, path, summary)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridhook Data Layer",
            "version": "1.0.0",
            "description": "The Organisation's Data Layer that Bright Energy reads (seed 003), "
            "served from gridhook's state. Personal data is sealed per person at rest.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": API_KEY},
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["title", "status"],
                    "properties": {"title": _TEXT, "status": {"type": "integer"}},
                }
            },
        },
    }


async def serve(request: web.Request) -> web.Response:
    """GET /data-layer/v1/openapi.json."""
    return json_response(request.app[DOCUMENT])
