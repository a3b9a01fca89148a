"""Load shedding ahead of aiohttp: while the ingress sheds, a partner's request is refused for
the cost of parsing it and one write.

A 503 answered by a handler still costs about 85 µs of CPU, nearly all of it aiohttp building
the request, routing it and writing a response object (bench/README.md, overload), so at twice
the sustainable rate the refusals took the core the accepted requests needed. `SheddingFront`
sits between each connection and aiohttp's protocol. It follows the connection's requests with
llhttp (httptools), and while the ingress is shedding (`LoadShedding.full()`) it answers a
request to a shed route itself, with the same 503 the route would give, prepared once; aiohttp
never sees it. Everything else reaches aiohttp byte for byte.

A Light tenant past its rate (its tenant is in the path) is refused 429 the same way; the
other partners name their tenant in a credential, which aiohttp's handler reads.

Each request belongs to the front or to aiohttp from its first byte to its last, decided by the
read that begins it: the front takes a read that begins with a whole request line and headers
for a shed route while shedding (or for a tenant past its rate), and every request that read
begins; otherwise aiohttp gets the read (and its handler refuses the request too). Answers keep
their order: the front writes its refusals only once aiohttp has answered everything before
them (it waits for its next request), and while a refusal waits the front takes every read. The
front stops following a connection whose input llhttp cannot parse, or that upgrades, and
leaves it to aiohttp.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, cast

import httptools
from aiohttp.web_protocol import RequestHandler

from service.ingress.shedding import LoadShedding

MAX_UNREAD_REFUSALS = 64 * 1024
"""Bytes of refusals a client may leave unread before the front closes its connection."""
RETRY_SECONDS = 0.0005
"""How soon the front looks again whether aiohttp has answered what came before a refusal."""


@dataclass(frozen=True)
class ShedAnswer:
    """A prepared refusal: the whole response but its `Date`, and what to count when it is
    sent."""

    response: bytes
    counted: Callable[[], None]

    def dated(self, date: bytes) -> bytes:
        """The response with `Date: <date>` after its status line."""
        end = self.response.index(b"\r\n") + 2
        return self.response[:end] + b"Date: " + date + b"\r\n" + self.response[end:]


class HttpDate:
    """The `Date` header's value (RFC 9110 wants one on a 4xx), formatted once a second."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._second = -1
        self._value = b""

    def __call__(self) -> bytes:
        second = int(self._clock())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True).encode()
        return self._value


HTTP_DATE = HttpDate()


@dataclass(frozen=True)
class ShedRoutes:
    """The routes the front may refuse: exact paths, and prefixes followed by one segment."""

    exact: Mapping[bytes, ShedAnswer]
    one_segment_under: Mapping[bytes, ShedAnswer]

    def refusal_for(self, url: bytes) -> ShedAnswer | None:
        path = url.partition(b"?")[0]
        refusal = self.exact.get(path)
        if refusal is None:
            parent, _, segment = path.rpartition(b"/")
            if segment:
                refusal = self.one_segment_under.get(parent)
        return refusal


def prepared_response(status_line: bytes, headers: Mapping[str, str], body: bytes) -> bytes:
    """An HTTP/1.1 response with `Content-Length`, as bytes (its `Date` is added as it is
    sent)."""
    lines = [status_line, *(f"{name}: {value}".encode() for name, value in headers.items())]
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


Limited = Callable[[bytes], "ShedAnswer | None"]
"""The 429 for a request whose URL names a tenant past its rate, else None (the request goes
on, its token taken)."""


class SheddingFront(asyncio.Protocol):
    """One connection: refuses requests to shed routes while `shedding` is full, or when
    `limited` answers for them, else hands the bytes to aiohttp's `inner` protocol."""

    def __init__(
        self,
        inner: RequestHandler,
        routes: ShedRoutes,
        shedding: LoadShedding,
        limited: Limited = lambda url: None,
    ) -> None:
        self._inner = inner
        self._routes = routes
        self._shedding = shedding
        self._limited = limited
        self._parser: Any = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._in_request = False  # a request has begun and not ended
        self._fronts_current = False  # the request in progress is the front's
        self._url = b""
        self._refusal: ShedAnswer | None = None  # the current request's route's, if shed
        self._first_refusal: ShedAnswer | None = None  # the read's first request, if shed
        self._first_known = False  # the read's first request line and headers were read
        self._taken_with: ShedAnswer | None = None  # the refusal of the read the front took
        self._by_route = True  # the front took it to shed: each request gets its route's 503
        self._first_url = b""
        self._ended: list[tuple[ShedAnswer | None, bool]] = []  # requests ended in this read
        self._unsent: list[tuple[ShedAnswer, bool]] = []  # refusals waiting for aiohttp's answers
        self._retry: asyncio.Handle | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._parser = None
        self._unsent.clear()
        if self._retry is not None:
            self._retry.cancel()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def eof_received(self) -> None:
        self._inner.eof_received()

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            self._inner.data_received(data)
            return
        at_boundary = not self._in_request
        self._first_refusal, self._first_known = None, False
        self._ended.clear()
        try:
            parser.feed_data(data)
        except (httptools.HttpParserUpgrade, httptools.HttpParserError):
            self._parser = None
            if self._unsent or (self._fronts_current and not at_boundary):
                self._close()  # garbage where the front was answering: nobody can go on
                return
        if not (self._takes_read() if at_boundary else self._fronts_current):
            self._fronts_current = False
            self._inner.data_received(data)
            return
        self._fronts_current = self._in_request
        for refusal, keep_alive in self._ended:
            answer = (refusal if self._by_route else None) or self._taken_with
            assert answer is not None
            self._unsent.append((answer, keep_alive))
        self._send()

    # -- llhttp's callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_request = True
        self._url = b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_headers_complete(self) -> None:
        self._refusal = self._routes.refusal_for(self._url)  # once per request
        if not self._first_known:
            self._first_known = True
            if self._parser.get_method() == b"POST":
                self._first_refusal = self._refusal
                self._first_url = self._url

    def on_message_complete(self) -> None:
        self._in_request = False
        self._ended.append((self._refusal, self._parser.should_keep_alive()))

    # -- the front's part ---------------------------------------------------------------

    def _takes_read(self) -> bool:
        """Whether the front takes the requests this read begins: a refusal of its own is
        still to be sent, or the first is to a shed route while the ingress sheds, or names a
        tenant past its rate."""
        if self._parser is None:
            return False
        if self._unsent:
            return True  # its refusals go out first, so what follows is the front's too
        if self._first_refusal is None:
            return False
        if self._shedding.full():
            self._taken_with, self._by_route = self._first_refusal, True
            return True
        limited = self._limited(self._first_url)
        if limited is not None:
            self._taken_with, self._by_route = limited, False
            return True
        self._shedding.let_through()
        return False

    def _inner_is_waiting(self) -> bool:
        # aiohttp's handler loop parks on `_waiter` only once every request it was given is
        # answered and its body drained; in any other state an answer of its may still be due.
        waiter = self._inner._waiter
        return waiter is not None and not waiter.done()

    def _send(self) -> None:
        """Write the refusals due, in order, once aiohttp has nothing left to answer."""
        self._retry = None
        transport = self._transport
        if transport is None or transport.is_closing():
            self._unsent.clear()
            return
        if not self._unsent:
            return
        if not self._inner_is_waiting():
            # aiohttp parks within a turn of the loop once its last answer is written; a slow
            # answer (a pipelining client) is polled less often.
            loop = asyncio.get_running_loop()
            self._retry = loop.call_later(RETRY_SECONDS, self._send)
            return
        for answer, keep_alive in self._unsent:
            transport.write(answer.dated(HTTP_DATE()))
            answer.counted()
            if not keep_alive:
                self._close()
                break
        self._unsent.clear()
        if self._parser is None or transport.get_write_buffer_size() > MAX_UNREAD_REFUSALS:
            self._close()

    def _close(self) -> None:
        self._parser = None
        self._unsent.clear()
        if self._transport is not None:
            self._transport.close()
