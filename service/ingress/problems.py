"""The ingress's one error path: every `Refusal` raised by a route, and every bug, is rendered
here, by `render_errors`, the app's only middleware.

A route's `ErrorStyle` decides how: RFC 9457 problem bodies (`application/problem+json`) by
default, or PowerBox's contract, 4xx with no body and 400 for a schema violation. Details are
written by gridhook, never copied from the request, so no secret, token, signature or personal
datum is echoed back. The OpenAPI document derives each route's statuses from the same style.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from gridhook.contract.errors import Refusal, SchemaViolation

log = logging.getLogger("gridhook.ingress")

PROBLEM_JSON = "application/problem+json"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ErrorStyle:
    """How a route answers a refusal: with a problem body or none, and which refusal classes
    answer another status than their own."""

    bodies: bool = True
    statuses: Mapping[type[Refusal], int] = field(default_factory=dict)

    def status_of(self, refusal: type[Refusal]) -> int:
        """The HTTP status this route answers `refusal` with."""
        for cls in refusal.__mro__:
            if cls in self.statuses:
                return self.statuses[cls]
        return refusal.status


PROBLEM_BODIES = ErrorStyle()
POWERBOX = ErrorStyle(bodies=False, statuses={SchemaViolation: 400})

STYLES = web.AppKey("error_styles", dict[str, ErrorStyle])
"""Each route's style, by its path; routes not listed use `PROBLEM_BODIES`."""


def render(refusal: Refusal, style: ErrorStyle) -> web.Response:
    """The answer to `refusal` in `style`."""
    status, headers, body = answer_parts(refusal, style)
    return web.Response(status=status, headers=headers, body=body or None)


def answer_parts(refusal: Refusal, style: ErrorStyle) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body `render` answers `refusal` with in `style`."""
    status = style.status_of(type(refusal))
    members = {"detail": refusal.detail} if refusal.detail else {}
    return _parts(status, refusal.title, style, refusal.headers, members | refusal.extensions())


def _answer(
    status: int, title: str, style: ErrorStyle, headers: dict[str, str], members: dict[str, Any]
) -> web.Response:
    status, headers, body = _parts(status, title, style, headers, members)
    return web.Response(status=status, headers=headers, body=body or None)


def _parts(
    status: int, title: str, style: ErrorStyle, headers: dict[str, str], members: dict[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    if not style.bodies:
        return status, headers, b""
    body = {"type": "about:blank", "title": title, "status": status, **members}
    return status, {"Content-Type": PROBLEM_JSON, **headers}, orjson.dumps(body)


def style_of(request: web.Request) -> ErrorStyle:
    """The error style of the route `request` matched."""
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else ""
    return request.app[STYLES].get(path, PROBLEM_BODIES)


@web.middleware
async def render_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals become their answers; any other exception is a bug, answered 500."""
    try:
        return await handler(request)
    except Refusal as refusal:
        return render(refusal, style_of(request))
    except web.HTTPException:
        raise  # aiohttp's own: unknown route, wrong method
    except Exception as error:
        # The body and headers are not logged: they may hold personal data or credentials.
        log.exception(
            "unexpected error",
            extra={"fields": {"path": request.path, "error": type(error).__name__}},
        )
        detail = {"detail": "an internal error occurred"}
        return _answer(500, "Internal server error", style_of(request), {}, detail)
