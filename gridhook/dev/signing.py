"""`gridhook sign light`: sign a payload file as Light would, to try the ingress by hand."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp

from gridhook.contract.errors import ConfigError
from gridhook.contract.settings import Settings, SignatureScheme
from gridhook.contract.signatures import sign


def sign_file(
    settings: Settings,
    payload: Path,
    secret: str | None,
    scheme: SignatureScheme | None,
    message_id: str | None,
    post: str | None,
) -> int:
    """Print the signing headers for `payload`, or POST it to `post` and print the answer."""
    secret = secret or next(iter(settings.light.secrets), None)
    if not secret:
        raise ConfigError("give --secret, or set GRIDHOOK_LIGHT_SECRETS")
    try:
        body = payload.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {payload}: {error.strerror}") from None
    headers = sign(
        scheme or settings.light.scheme,
        secret,
        body,
        message_id or f"msg_{uuid.uuid4().hex}",
        int(time.time()),
    )
    if post is None:
        for name, value in headers.items():
            print(f"{name}: {value}")
        return 0
    return asyncio.run(_post(post, body, headers))


async def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers={**headers, "Content-Type": "application/json"}) as r,
    ):
        print(await r.text(), r.status)
        return 0 if r.status < 300 else 1
