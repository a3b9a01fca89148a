"""The OpenAPI 3.1 document of the ingress, built from the source declarations and schemas."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gridhook.contract import schemas
from gridhook.contract.answers import json_response
from gridhook.contract.errors import InvalidQuery, Refusal
from service.ingress import measurements, readings
from service.ingress.pipeline import REFUSALS
from service.ingress.problems import POWERBOX, PROBLEM_BODIES, ErrorStyle
from service.ingress.read_api import READ_REFUSALS, READ_ROUTES
from service.ingress.sources import Source

DOCUMENT = web.AppKey("openapi_document", dict[str, Any])

_PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"pointer": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}


def _responses(
    refusals: tuple[tuple[type[Refusal], str], ...], style: ErrorStyle
) -> dict[str, Any]:
    """The error responses of a route that may raise `refusals`, as `style` answers them;
    refusals answered with the same status share one entry."""
    described: dict[int, list[str]] = {}
    for refusal, description in refusals:
        described.setdefault(style.status_of(refusal), []).append(description)
    responses: dict[str, Any] = {}
    for status, descriptions in sorted(described.items()):
        text = " ".join(descriptions)
        if not style.bodies:
            responses[str(status)] = {"description": text + " (no body)"}
            continue
        responses[str(status)] = {
            "description": text,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
    return responses


def _webhook_operation(source: Source) -> dict[str, Any]:
    bodies = [schemas.dereferenced(path) for path in source.schema_paths]
    return {
        "post": {
            "summary": source.summary,
            "description": f"Published to Kafka topic `{source.topic}`; answered after Kafka "
            "acknowledged the record. A repeated message id is answered 200 without "
            "publishing again.",
            "operationId": f"receive_{source.name}",
            "security": [{source.name: []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"anyOf": bodies} if bodies else {}}},
            },
            "responses": {
                str(source.accepted_status): {
                    "description": "Kafka has the record (`accepted`), or had it (`duplicate`).",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "status": {"enum": ["accepted", "duplicate"]},
                                    "id": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                **_responses(REFUSALS + source.refusals, source.style),
            },
        }
    }


def _readings_operation() -> dict[str, Any]:
    counts = {"type": "integer", "minimum": 0}
    return {
        "post": {
            "summary": "Meter reads the head-end forwards from the bound HAN devices.",
            "description": "Each meter's reads are published as one record on "
            "`powerbox.meter-reads`; the reads of a meter with no bound device, or from another "
            "device, go to `powerbox.meter-reads.dlq` with the reason. Answered after Kafka "
            "has every record.",
            "operationId": "receive_meter_reads",
            "security": [{"powerbox": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schemas.dereferenced(readings.SCHEMA)}},
            },
            "responses": {
                "200": {
                    "description": "Kafka has every record.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"accepted": counts, "deadLettered": counts},
                            }
                        }
                    },
                },
                **_responses(REFUSALS, POWERBOX),
            },
        }
    }


def _measurement_operation(path: str, summary: str) -> dict[str, Any]:
    text = {"type": "string"}
    query = [
        ("from", text, "RFC 3339 time or date (UTC); default: the last day with data."),
        ("to", text, "RFC 3339 time or date (UTC), after `from`; at most 200 days later."),
        ("resolution", {"enum": ["15m", "1h", "1d"]}, "Bucket size (default 15m)."),
        ("source", {"enum": ["best", "han", "light"]}, "Which source (default best)."),
    ]
    return {
        "get": {
            "summary": summary,
            "security": [{"admin": []}],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": text}
                for name in re.findall(r"{(\w+)}", path)
            ]
            + [
                {"name": name, "in": "query", "schema": schema, "description": description}
                for name, schema, description in query
            ],
            "responses": {
                "200": {"description": "The intervals.", "content": {"application/json": {}}},
                **_responses(((InvalidQuery, "A bad parameter."), *READ_REFUSALS), PROBLEM_BODIES),
            },
        }
    }


def build(sources: list[Source]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for an ingress serving `sources`."""
    paths: dict[str, Any] = {source.path: _webhook_operation(source) for source in sources}
    plain = {"200": {"description": "OK"}}
    paths["/v1/powerbox/healthz"] = {
        "get": {
            "summary": "PowerBox health check.",
            "responses": {**plain, "503": {"description": "Kafka not connected (no body)."}},
        }
    }
    paths["/healthz"] = {"get": {"summary": "The process is alive.", "responses": plain}}
    paths["/readyz"] = {
        "get": {
            "summary": "The Kafka producer is connected.",
            "responses": {**plain, "503": {"description": "Not connected yet."}},
        }
    }
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics.", "responses": plain}}
    for path, summary in READ_ROUTES:
        paths[path] = {
            "get": {
                "summary": summary,
                "security": [{"admin": []}],
                "parameters": [
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    for name in re.findall(r"{(\w+)}", path)
                ],
                "responses": {
                    "200": {"description": "Current state.", "content": {"application/json": {}}},
                    **_responses(READ_REFUSALS, PROBLEM_BODIES),
                },
            }
        }
    paths[readings.PATH] = _readings_operation()
    for path, _, summary in measurements.ROUTES:
        paths[path] = _measurement_operation(path, summary)
    paths["/openapi.json"] = {"get": {"summary": "This document.", "responses": plain}}
    security = {source.name: source.authenticator.security_scheme for source in sources}
    security["admin"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "GRIDHOOK_ADMIN_TOKEN, for the read API.",
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridhook ingress",
            "version": "1.0.0",
            "description": "Receives partner webhooks and publishes them to Kafka.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": {"Problem": _PROBLEM}, "securitySchemes": security},
    }


async def serve(request: web.Request) -> web.Response:
    """GET /openapi.json."""
    return json_response(request.app[DOCUMENT])
