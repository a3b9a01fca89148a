"""JSON answers as every gridhook HTTP process writes them: compact, through orjson (faster
than the standard library's, and the same bytes the ingress's own answers are)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """`data` as an `application/json` answer."""
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )
