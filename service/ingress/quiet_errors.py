"""aiohttp's answer to a request it cannot parse, without a byte of the request.

For every malformed request (an over-long header line, an invalid header, a broken request
line) aiohttp logs `Error handling request` at ERROR with a traceback whose message quotes up
to 100 bytes of the offending line, and answers 400 with that message as its body. An over-long
`Authorization` or `webhook-signature` header would put credential bytes in the log and in the
answer. `install()` makes aiohttp's servers use `QuietRequestHandler`, which logs one warning
line (the client address and the error class) and answers the bare status.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web, web_protocol, web_server
from aiohttp.web_request import BaseRequest

log = logging.getLogger("gridhook.ingress")


class QuietRequestHandler(web_protocol.RequestHandler):
    """aiohttp's request handler, with `handle_error` that echoes nothing of the request."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        log.warning(
            "malformed request",
            extra={
                "fields": {
                    "client": request.remote,
                    "error": type(exc).__name__ if exc is not None else "unknown",
                    "status": status,
                }
            },
        )
        if request.writer.output_size > 0:
            raise ConnectionError("the answer has begun; the connection is closed instead")
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        response = web.Response(status=status, text=f"{status} {phrase}\n")
        response.force_close()
        return response


def install() -> None:
    """Make every aiohttp server of this process answer malformed requests quietly."""
    # aiohttp offers no hook for it: `web_server.Server` builds its handlers from this name.
    web_server.RequestHandler = QuietRequestHandler  # type: ignore[attr-defined]
