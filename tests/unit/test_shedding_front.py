"""The shedding front: while shedding it answers a shed route's requests itself, in order, and
hands everything else to aiohttp byte for byte."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gridhook.contract.errors import TooManyRequests
from gridhook.contract.settings import Settings
from gridhook.contract.tenants import Registry, Tenant, Tenants
from gridhook.state.store import Store
from service.ingress import keys, problems
from service.ingress.front import ShedAnswer, SheddingFront, ShedRoutes, prepared_response
from service.ingress.server import shedding_front
from service.ingress.shedding import ARRIVING_SECONDS, LoadShedding
from service.ingress.tenancy import Limits, too_many_requests
from tests.support.fakes import InMemoryPublisher
from tests.support.ingress import ingress_app
from tests.support.light_payloads import OTHER_SECRET, SECRET, light_event, signed
from tests.support.waiting import eventually

REFUSED = prepared_response(
    b"HTTP/1.1 503 Service Unavailable", {"Retry-After": "1"}, b'{"title":"shed"}'
)
SHED = (503, b'{"title":"shed"}')


@dataclass
class Server:
    port: int
    gate: LoadShedding = field(default_factory=lambda: LoadShedding(limit=1))
    handled: list[str] = field(default_factory=list)
    refused: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)  # a slow handler began
    bytes_read: int = 0  # by the front, from every connection

    @property
    def shedding(self) -> bool:
        return self.gate.full()

    @shedding.setter
    def shedding(self, on: bool) -> None:
        self.gate.taken = 1 if on else 0


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(port=0)
    state.release.set()

    async def webhook(request: web.Request) -> web.Response:
        state.gate.arrived()  # as the pipeline's handler does
        body = await request.read()
        if body == b"slow":
            state.entered.set()
            await state.release.wait()
        state.handled.append(body.decode())
        return web.Response(text="ok")

    async def ready(request: web.Request) -> web.Response:
        state.handled.append("ready")
        return web.Response(text="ready")

    def counted() -> None:
        state.refused += 1

    app = web.Application()
    app.router.add_post("/hooks/a", webhook)
    app.router.add_post("/hooks/t/{tenant}", webhook)
    app.router.add_get("/readyz", ready)
    runner = web.AppRunner(app)
    await runner.setup()
    assert runner.server is not None
    refusal = ShedAnswer(REFUSED, counted)
    routes = ShedRoutes(exact={b"/hooks/a": refusal}, one_segment_under={b"/hooks/t": refusal})
    handlers = runner.server

    class CountingFront(SheddingFront):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state.bytes_read += len(data)

    listening = await asyncio.get_running_loop().create_server(
        lambda: CountingFront(handlers(), routes, state.gate), "127.0.0.1", 0
    )
    state.port = listening.sockets[0].getsockname()[1]
    yield state
    listening.close()
    await runner.cleanup()


def post(path: str, body: bytes, *extra: str) -> bytes:
    headers = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def send_as_one_read(server: Server, writer: asyncio.StreamWriter, piece: bytes) -> None:
    """Write `piece` and wait until the server has read it, so the next write is a read of its
    own."""
    expected = server.bytes_read + len(piece)
    writer.write(piece)
    await writer.drain()
    await eventually(lambda: server.bytes_read >= expected, 5, "the server to read the piece")


async def response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    length = next(
        int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length")
    )
    return int(lines[0].split()[1]), await asyncio.wait_for(reader.readexactly(length), 5)


async def test_without_shedding_every_request_reaches_aiohttp(server: Server) -> None:
    """Not shedding: requests to shed routes are handled by aiohttp as usual."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(post("/hooks/a", b"one") + post("/hooks/t/gridco", b"two"))
    assert [await response(reader), await response(reader)] == [(200, b"ok"), (200, b"ok")]
    assert server.handled == ["one", "two"]
    assert server.refused == 0
    writer.close()


async def test_while_shedding_the_front_answers_and_keeps_the_connection(server: Server) -> None:
    """Shedding: the prepared 503 for each request, aiohttp never sees them, and the same
    connection carries on to aiohttp once shedding stops."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.shedding = True
    for body in (b"one", b"two"):
        writer.write(post("/hooks/a", body))
        assert await response(reader) == SHED
    writer.write(post("/hooks/t/gridco", b"three"))
    assert await response(reader) == SHED
    assert server.handled == []
    assert server.refused == 3
    server.shedding = False
    writer.write(post("/hooks/a", b"four"))
    assert await response(reader) == (200, b"ok")
    assert server.handled == ["four"]
    writer.close()


async def test_other_routes_are_answered_by_aiohttp_while_shedding(server: Server) -> None:
    """Shedding does not touch routes outside the shed set (health, unknown tenants' depth)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.shedding = True
    writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await response(reader) == (200, b"ready")
    writer.write(post("/hooks/t/a/b", b"deep"))
    assert (await response(reader))[0] == 404
    writer.close()


async def test_a_body_arriving_in_pieces_is_refused_once_whole(server: Server) -> None:
    """A shed request whose body comes in several reads is answered after its last byte, and
    the next request on the connection is read from the right place."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.shedding = True
    whole = post("/hooks/a", b"0123456789" * 50)
    headers_end = whole.index(b"\r\n\r\n") + 4
    for piece in (whole[: headers_end + 10], whole[headers_end + 10 : 300], whole[300:]):
        await send_as_one_read(server, writer, piece)
    assert await response(reader) == SHED
    server.shedding = False
    writer.write(post("/hooks/a", b"next"))
    assert await response(reader) == (200, b"ok")
    assert server.handled == ["next"]
    writer.close()


async def test_a_request_aiohttp_began_stays_with_aiohttp(server: Server) -> None:
    """Shedding that starts while aiohttp is reading a request's body leaves that request to
    aiohttp."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    whole = post("/hooks/a", b"x" * 400)
    await send_as_one_read(server, writer, whole[:100])
    server.shedding = True
    writer.write(whole[100:])
    assert await response(reader) == (200, b"ok")
    assert server.refused == 0
    writer.close()


async def test_answers_keep_their_order_when_a_client_pipelines(server: Server) -> None:
    """A request pipelined behind one aiohttp is still answering is not answered before it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.release.clear()
    writer.write(post("/hooks/a", b"slow"))
    await asyncio.wait_for(server.entered.wait(), 5)  # aiohttp is answering it
    server.shedding = True
    await send_as_one_read(server, writer, post("/hooks/a", b"behind"))
    assert server.refused == 0  # taken by the front, held until aiohttp's answer is out
    server.release.set()
    assert await response(reader) == (200, b"ok")
    assert await response(reader) == SHED
    assert server.handled == ["slow"]
    writer.close()


async def test_requests_pipelined_in_one_read_are_all_refused(server: Server) -> None:
    """Every request a read taken by the front begins is the front's, in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.shedding = True
    writer.write(post("/hooks/a", b"one") + post("/hooks/t/x", b"two") + post("/hooks/a", b"3"))
    for _ in range(3):
        assert await response(reader) == SHED
    assert server.refused == 3
    writer.close()


async def test_headers_spread_over_reads_leave_the_request_to_aiohttp(server: Server) -> None:
    """The front decides on a read that holds the request line and headers whole; otherwise
    aiohttp gets the request (and the pipeline's own check sheds it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.shedding = True
    whole = post("/hooks/a", b"late")
    await send_as_one_read(server, writer, whole[:12])
    writer.write(whole[12:])
    assert await response(reader) == (200, b"ok")
    assert server.refused == 0
    writer.close()


async def test_input_llhttp_rejects_goes_to_aiohttp(server: Server) -> None:
    """Bytes that are not HTTP reach aiohttp, which answers 400, while shedding too."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.shedding = True
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    assert (await response(reader))[0] == 400
    writer.close()


async def test_a_client_that_closes_after_its_request_is_closed_after_the_refusal(
    server: Server,
) -> None:
    """`Connection: close` is honoured: the 503, then the end of the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    server.shedding = True
    writer.write(post("/hooks/a", b"bye", "Connection: close"))
    assert await response(reader) == SHED
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


def test_a_request_let_through_counts_against_the_bound_until_its_handler_takes_it() -> None:
    """`let_through` fills the bound at once; `arrived` frees it; a request whose handler never
    takes it stops counting after `ARRIVING_SECONDS`."""
    now = [0.0]
    gate = LoadShedding(limit=1, clock=lambda: now[0])
    gate.let_through()
    assert gate.full()
    gate.arrived()
    assert not gate.full()
    gate.let_through()
    now[0] += ARRIVING_SECONDS + 0.01
    assert not gate.full()


@pytest.fixture
async def ingress(tmp_path: Path) -> AsyncIterator[tuple[str, web.Application]]:
    """The ingress app (in-memory Kafka) served behind its front, a tenant `flood` limited to
    1/s with a burst of 2 on `/webhooks/light/flood`."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = Store(url, writer=True)
    await store.migrate()
    await store.close()
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(
        "[tenants.flood]\nrate = 1\nburst = 2\n"
        f'[tenants.flood.light]\nsecrets = ["{OTHER_SECRET}"]\n'
    )
    settings = Settings.from_env(
        {
            "GRIDHOOK_TENANTS_FILE": str(tenants),
            "GRIDHOOK_LIGHT_SECRETS": SECRET,
            "GRIDHOOK_DATABASE_URL": url,
        }
    )
    app = ingress_app(settings, InMemoryPublisher(), store=Store(url), clock=None)
    runner = web.AppRunner(app)
    await runner.setup()
    assert runner.server is not None
    listening = await asyncio.get_running_loop().create_server(
        shedding_front(app, runner.server), "127.0.0.1", 0
    )
    yield f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}", app
    listening.close()
    await runner.cleanup()


async def test_the_ingress_front_refuses_a_light_tenant_past_its_rate_as_its_handler_would(
    ingress: tuple[str, web.Application],
) -> None:
    """Past its burst, the tenant's webhook gets the handler's 429 (problem body, Retry-After)
    from the front, counted in the same metrics; the default tenant is still served."""
    base, app = ingress
    async with aiohttp.ClientSession() as session:

        async def send(path: str, secret: str) -> tuple[int, dict[str, str], bytes]:
            body, headers = signed(light_event("account.created"), secret=secret, now=time.time())
            async with session.post(base + path, data=body, headers=headers) as response:
                return response.status, dict(response.headers), await response.read()

        statuses = [(await send("/webhooks/light/flood", OTHER_SECRET))[0] for _ in range(2)]
        assert statuses == [200, 200]
        requests_before = app[keys.METRICS].requests.labels("light", "", "429")._value.get()
        status, headers, body = await send("/webhooks/light/flood", OTHER_SECRET)
        assert status == 429
        assert "Server" not in headers  # the front's answer: aiohttp's would name itself
        assert parsedate_to_datetime(headers["Date"]).timestamp() == pytest.approx(
            time.time(), abs=5
        )
        assert headers["Retry-After"] == "1"
        assert headers["Content-Type"] == "application/problem+json"
        assert body == problems.answer_parts(too_many_requests(1), problems.PROBLEM_BODIES)[2]
        assert (await send("/webhooks/light", SECRET))[0] == 200
    metrics = app[keys.METRICS]
    assert metrics.rate_limited.labels("flood")._value.get() == 1
    assert metrics.requests.labels("light", "", "429")._value.get() == requests_before + 1


def test_a_token_the_front_took_is_spent_by_the_route_not_taken_twice() -> None:
    """`let_through` takes the tenant's token once; the route's `admit` spends it; past the
    burst `let_through` answers how long to wait, and `admit` refuses."""
    registry = Registry(Settings.from_env({}))
    registry.current = Tenants({"gridco": Tenant("gridco", rate=1.0, burst=2.0)})
    limits = Limits(registry, clock=lambda: 0.0)
    assert limits.let_through("gridco") == 0
    limits.admit("gridco")  # spends the prepaid token
    assert limits.let_through("gridco") == 0
    limits.admit("gridco")
    assert limits.let_through("gridco") == pytest.approx(1.0)
    with pytest.raises(TooManyRequests):
        limits.admit("gridco")
