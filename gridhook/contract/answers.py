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


def version() -> str:
    """gridhook's version, as installed (every process's /healthz says it)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("gridhook")
    except PackageNotFoundError:
        return "unknown"


def health() -> dict[str, str]:
    """The body of every process's `GET /healthz`."""
    return {"status": "ok", "version": version()}
