"""HTTP errors as aiohttp exceptions carrying RFC 9457 problem bodies (or none, for PowerBox).

Details are written by gridhook, never copied from the request, so no secret, token, signature
or personal data is echoed back.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

PROBLEM_JSON = "application/problem+json"

_CLASSES: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    415: web.HTTPUnsupportedMediaType,
    422: web.HTTPUnprocessableEntity,
    500: web.HTTPInternalServerError,
    503: web.HTTPServiceUnavailable,
}


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    with_body: bool = True,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> web.HTTPException:
    """An aiohttp HTTP exception for `status` with a problem body (when `with_body`)."""
    if status == 413:
        error: web.HTTPException = web.HTTPRequestEntityTooLarge(
            max_size=extensions.pop("max_size", 0),
            actual_size=extensions.pop("actual_size", 0),
            headers=headers,
        )
    else:
        error = _CLASSES[status](headers=headers)
    if with_body:
        body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
        if detail:
            body["detail"] = detail
        body.update(extensions)
        error.body = orjson.dumps(body)
        error.content_type = PROBLEM_JSON
    else:
        error.body = None
    return error
