"""The HTTP session every outbound partner client holds: one aiohttp session to one base URL,
opened and closed by `async with` (the head-end gateway, Light, WattShift)."""

from __future__ import annotations

from typing import Self

import aiohttp


class PartnerSession:
    """A base URL, a total timeout per call, and the session, open inside `async with`."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"use {type(self).__name__} as an async context manager")
        return self._session

    def url(self, path: str) -> str:
        return self._base + path
