"""What the partner API emulators (Light, WattShift) share: a call's JSON body, and a refusal
answered as these partners answer one, `{"error": {"code": ...}}` with a 4xx."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from gridhook.contract.answers import json_response


class Refused(Exception):
    """The partner refuses the call: its HTTP status and error code."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def error_response(status: int, code: str) -> web.Response:
    return json_response({"error": {"code": code}}, status=status)


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A `Refused` raised by a route becomes the partner's error body."""
    try:
        return await handler(request)
    except Refused as refused:
        return error_response(refused.status, refused.code)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The call's JSON object (`{}` for no body); `invalid_request` (400) otherwise."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refused(400, "invalid_request") from None
    if not isinstance(body, dict):
        raise Refused(400, "invalid_request")
    return body
