"""Chaos on a three-broker cluster with two ingress replicas, two state appliers, two bind
forwarders and PostgreSQL, under steady signed load.

1. SIGKILL brokers and bring them back: every webhook answered 2xx is in its topic, and none
   was answered 2xx while a single broker could have held it.
2. SIGKILL an applier mid-batch and a forwarder mid-join, restart them: the state equals a
   clean single-applier run over the same records, every bind ends bound, each device joined
   once.
3. Add a third applier under load (a rebalance): the same equality.
4. Each webhook sent to both ingress replicas: each is once in its topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from consumers.rebuild import catch_up
from gridhook.contract.codec import header
from gridhook.contract.identifiers import hem_profile_id
from gridhook.contract.install_codes import with_crc
from gridhook.contract.settings import Settings
from gridhook.contract.topics import LIGHT_EVENTS, POWERBOX_BIND_REQUESTS
from gridhook.dev.embedded_kafka import EmbeddedKafka
from gridhook.state.store import Store
from gridhook.state.transitions import APPLIED_TOPICS
from tests.support.kafka import (
    all_end_offsets,
    by_position,
    commit_at_end,
    commit_offsets,
    group_caught_up,
    read_between,
)
from tests.support.load import SECRET, Load
from tests.support.partner_payloads import customer_body
from tests.support.postgres import fresh_database
from tests.support.processes import free_port, gridhook_process, http_ok
from tests.support.tokens import AUDIENCE, ISSUER, ec_key, write_jwks
from tests.support.waiting import eventually

ADMIN = "admin-token-for-chaos-0123456789"
SIGNER = ec_key()
CODE = with_crc(bytes(range(16)))


@dataclass
class Deployment:
    """gridhook's processes against the cluster, each replica a real process."""

    cluster: EmbeddedKafka
    bootstrap: str
    environment: dict[str, str]
    workdir: Path
    processes: contextlib.AsyncExitStack
    ingress: list[str] = field(default_factory=list)
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: int = 0

    async def start(self, name: str, arguments: list[str], **overrides: str) -> None:
        self.started += 1
        log = self.workdir / f"{name}-{self.started}.log"
        self.running[name] = await self.processes.enter_async_context(
            gridhook_process(arguments, self.environment | overrides, log)
        )

    async def start_ingress(self, count: int) -> None:
        for n in range(count):
            port = free_port()
            await self.start(f"ingress-{n}", ["ingress"], GRIDHOOK_HTTP_PORT=str(port))
            base = f"http://127.0.0.1:{port}"
            await eventually(lambda: http_ok(f"{base}/readyz"), 60, "an ingress")  # noqa: B023
            self.ingress.append(base)

    async def start_applier(self, name: str) -> None:
        await self.start(name, ["consume", "state", "--group", self.environment["STATE"]])

    async def start_forwarder(self, name: str) -> None:
        await self.start(name, ["consume", "bind", "--group", self.environment["BIND"]])

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()


@contextlib.asynccontextmanager
async def deployment(
    cluster: EmbeddedKafka, database: str, workdir: Path, settings: Settings
) -> AsyncIterator[Deployment]:
    state = cluster.state()
    assert state is not None
    jwks = workdir / "jwks.json"
    write_jwks(jwks, SIGNER)
    emulator_port = free_port()
    suffix = uuid.uuid4().hex[:8]
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": state.bootstrap,
        "GRIDHOOK_LOG_FORMAT": "json",
        "GRIDHOOK_DATABASE_URL": database,
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_ADMIN_TOKEN": ADMIN,
        "GRIDHOOK_POWERBOX_JWKS": str(jwks),
        "GRIDHOOK_POWERBOX_ISSUER": ISSUER,
        "GRIDHOOK_POWERBOX_AUDIENCE": AUDIENCE,
        "GRIDHOOK_READ_YOUR_WRITES_WAIT": "20",
        "GRIDHOOK_CONSUMER_BATCH": "50",
        "GRIDHOOK_EMULATOR_PORT": str(emulator_port),
        "GRIDHOOK_EMULATOR_DB": str(workdir / "emulator.db"),
        "GRIDHOOK_EMULATOR_JOIN_SECONDS": "1-3",
        "GRIDHOOK_EMULATOR_UNREACHABLE_RATE": "0.1",
        "GRIDHOOK_EMULATOR_ERROR_RATE": "0.02",
        "GRIDHOOK_EMULATOR_TIMEOUT_RATE": "0",
        "GRIDHOOK_GATEWAY_URL": f"http://127.0.0.1:{emulator_port}",
        "GRIDHOOK_BIND_POLL_MAX": "0.5",
        "GRIDHOOK_BIND_BACKOFF_MAX": "1",
        "GRIDHOOK_BIND_MAX_ATTEMPTS": "30",
        "STATE": f"chaos-state-{suffix}",
        "BIND": f"chaos-bind-{suffix}",
    }
    await commit_at_end(state.bootstrap, environment["STATE"], APPLIED_TOPICS)
    await commit_at_end(state.bootstrap, environment["BIND"], [POWERBOX_BIND_REQUESTS])
    async with contextlib.AsyncExitStack() as processes:
        yield Deployment(cluster, state.bootstrap, environment, workdir, processes)


async def store_hash(url: str) -> str:
    store = Store(url)
    try:
        snapshot = await store.snapshot()
    finally:
        await store.close()
    rows = sorted((f"{kind}/{entity}", row) for (kind, entity), row in snapshot.items())
    return hashlib.sha256(orjson.dumps(rows, option=orjson.OPT_SORT_KEYS)).hexdigest()


def counts_in_topic(records: list[Any]) -> Counter[str]:
    return Counter((header(r.headers, "ce_id") or b"").decode() for r in records)


async def test_brokers_die_and_no_acknowledged_webhook_is_lost(
    cluster: EmbeddedKafka,
    postgres_url: str,
    settings: Settings,
    tmp_path: Path,
    summary: list[dict[str, Any]],
) -> None:
    """One broker SIGKILLed, then a second: while only one is left no webhook is answered 2xx
    (min.insync.replicas 2); both come back on their own addresses; every 2xx is in the topic."""
    database = await fresh_database(postgres_url)
    async with deployment(cluster, database, tmp_path, settings) as stack:
        starts = await all_end_offsets(stack.bootstrap, [LIGHT_EVENTS])
        await stack.start_ingress(2)
        load = Load(stack.ingress, rate=40)
        load.start()
        await asyncio.sleep(3)  # steady load before the first kill
        await asyncio.to_thread(cluster.kill, 3)
        await asyncio.sleep(5)  # load on two brokers
        await asyncio.to_thread(cluster.kill, 2)
        alone_since = time.monotonic()
        await asyncio.sleep(8)  # load with one broker left
        restarting = time.monotonic()
        await asyncio.to_thread(cluster.start_node, 2)
        together_again = time.monotonic()
        await asyncio.to_thread(cluster.start_node, 3)

        async def acknowledged_again() -> bool:
            return any(a.sent > together_again and 200 <= a.status < 300 for a in load.answers)

        await eventually(acknowledged_again, 60, "webhooks acknowledged again")
        await asyncio.sleep(3)
        await load.stop()
        state = cluster.state()
        assert state is not None
        assert state.bootstrap == stack.bootstrap, "the brokers came back on their addresses"
        ends = await all_end_offsets(stack.bootstrap, [LIGHT_EVENTS])
        in_topic = counts_in_topic(await read_between(stack.bootstrap, starts, ends))
    acknowledged = load.acknowledged
    lost = acknowledged - set(in_topic)
    while_alone = [a for a in load.answers if a.sent > alone_since + 1 and a.answered < restarting]
    alone = [a for a in while_alone if 200 <= a.status < 300]
    summary.append(
        {
            "scenario": "1 brokers SIGKILLed",
            "load": len(load.answers),
            "kills": "broker 3, broker 2",
            "acknowledged": len(acknowledged),
            "lost": len(lost),
            "duplicated": sum(1 for n in in_topic.values() if n > 1),
        }
    )
    assert lost == set()
    assert while_alone, "webhooks were answered while one broker was left"
    assert alone == [], "acknowledged while one broker alone could have held it"
    assert {a.status for a in while_alone} == {503}
    assert sum(1 for n in in_topic.values() if n > 1) == 0
    assert len(acknowledged) > len(load.answers) / 2


@dataclass
class Installer:
    """A CIS syncing customers and binding their meters through the ingress replicas."""

    bases: list[str]
    session: aiohttp.ClientSession
    meters: dict[str, str] = field(default_factory=dict)  # meter -> mac
    clients: dict[str, str] = field(default_factory=dict)  # meter -> clientId

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SIGNER.token()}", "Content-Type": "application/json"}

    async def sync(self, count: int) -> None:
        client_id = f"client-{uuid.uuid4().hex[:8]}"
        meters = [f"m-{uuid.uuid4().hex[:10]}" for _ in range(count)]
        body = customer_body(client_id, meters)
        url = f"{self.bases[0]}/v1/powerbox/customer"
        async with self.session.post(url, data=orjson.dumps(body), headers=self.headers()) as r:
            assert r.status == 200
        for n, meter in enumerate(meters):
            self.clients[meter] = client_id
            self.meters[meter] = f"00:1B:C5:00:{len(self.meters):02X}:{n:02X}:AA:BB"

    async def bind_all(self) -> None:
        async def bind(n: int, meter: str) -> None:
            body = {
                "hemProfileId": hem_profile_id(self.clients[meter]),
                "macAddress": self.meters[meter],
                "installCode": CODE,
                "meterId": meter,
                "actionCode": 1,
            }
            url = f"{self.bases[n % len(self.bases)]}/v1/powerbox/bind"
            data = orjson.dumps(body)
            async with self.session.post(url, data=data, headers=self.headers()) as r:
                assert r.status == 200, r.status

        await asyncio.gather(*(bind(n, meter) for n, meter in enumerate(self.meters)))

    async def states(self) -> dict[str, str]:
        async def state(meter: str) -> tuple[str, str]:
            url = f"{self.bases[0]}/v1/powerbox/meters/{meter}"
            auth = {"Authorization": f"Bearer {ADMIN}"}
            async with self.session.get(url, headers=auth) as r:
                return meter, (await r.json())["bindState"] if r.status == 200 else "unknown"

        return dict(await asyncio.gather(*(state(meter) for meter in self.meters)))

    async def join_counts(self, emulator: str) -> dict[str, dict[str, int]]:
        counts = {}
        for meter in self.meters:
            async with self.session.get(f"{emulator}/v1/meters/{meter}/devices") as r:
                counts[meter] = (await r.json())["joinCounts"]
        return counts


async def clean_run_hash(
    stack: Deployment,
    postgres_url: str,
    starts: dict[Any, int],
    ends: dict[Any, int],
) -> str:
    """The store one uninterrupted applier reaches over the same records."""
    url = await fresh_database(postgres_url)
    group = f"clean-{uuid.uuid4().hex[:8]}"
    await commit_offsets(stack.bootstrap, group, starts)
    settings = Settings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap, "GRIDHOOK_DATABASE_URL": url}
    )
    store = Store(url, writer=True)
    await store.migrate()
    try:
        await catch_up(settings, group, store, by_position(ends), by_position(starts))
    finally:
        await store.close()
    return await store_hash(url)


async def consumers_under_chaos(
    stack: Deployment,
    postgres_url: str,
    database: str,
    *,
    kill: bool,
    add_applier: bool,
) -> dict[str, Any]:
    """Two appliers and two forwarders under Light load and a round of binds; with `kill`,
    one applier and one forwarder are SIGKILLed mid-run and restarted; with `add_applier` a
    third applier joins mid-run. Returns what the summary and the checks need."""
    starts = await all_end_offsets(stack.bootstrap, list(APPLIED_TOPICS))
    await stack.start("emulator", ["emulator"])
    emulator = stack.environment["GRIDHOOK_GATEWAY_URL"]
    await eventually(lambda: http_ok(f"{emulator}/healthz"), 30, "the emulator")
    await stack.start_ingress(2)
    for name in ("applier-1", "applier-2"):
        await stack.start_applier(name)
    for name in ("forwarder-1", "forwarder-2"):
        await stack.start_forwarder(name)
    kills = []
    async with aiohttp.ClientSession() as session:
        installer = Installer(stack.ingress, session)
        for _ in range(3):
            await installer.sync(8)
        load = Load(stack.ingress, rate=30)
        load.start()
        await installer.bind_all()

        async def some_bound() -> bool:
            states = await installer.states()
            return sum(state == "bound" for state in states.values()) >= 3

        await eventually(some_bound, 120, "some meters to be bound")
        if kill:
            stack.kill("applier-1")
            stack.kill("forwarder-1")
            kills = ["applier-1 (mid-batch)", "forwarder-1 (mid-join)"]
            await asyncio.sleep(2)  # load goes on with one of each
            await stack.start_applier("applier-1")
            await stack.start_forwarder("forwarder-1")
        if add_applier:
            await stack.start_applier("applier-3")
            kills.append("+ applier-3 (rebalance)")
        await asyncio.sleep(5)  # load goes on across the restarts and the rebalance
        await load.stop()

        async def all_bound() -> bool:
            states = await installer.states()
            return set(states.values()) == {"bound"}

        await eventually(all_bound, 240, "every meter to be bound")
        joins = await installer.join_counts(emulator)
    ends = await all_end_offsets(stack.bootstrap, list(APPLIED_TOPICS))
    group = stack.environment["STATE"]
    await eventually(lambda: group_caught_up(stack.bootstrap, group, ends), 120, "the appliers")
    light_starts = {tp: o for tp, o in starts.items() if tp.topic == LIGHT_EVENTS}
    light_ends = {tp: o for tp, o in ends.items() if tp.topic == LIGHT_EVENTS}
    in_topic = counts_in_topic(await read_between(stack.bootstrap, light_starts, light_ends))
    return {
        "load": load,
        "kills": ", ".join(kills) or "none",
        "in_topic": in_topic,
        "joins": joins,
        "meters": installer.meters,
        "chaos_hash": await store_hash(database),
        "clean_hash": await clean_run_hash(stack, postgres_url, starts, ends),
    }


def check_consumers(outcome: dict[str, Any], scenario: str, summary: list[dict[str, Any]]) -> None:
    load: Load = outcome["load"]
    in_topic: Counter[str] = outcome["in_topic"]
    lost = load.acknowledged - set(in_topic)
    summary.append(
        {
            "scenario": scenario,
            "load": f"{len(load.answers)} webhooks, {len(outcome['meters'])} binds",
            "kills": outcome["kills"],
            "acknowledged": len(load.acknowledged),
            "lost": len(lost),
            "duplicated": sum(1 for n in in_topic.values() if n > 1),
        }
    )
    assert lost == set()
    assert outcome["chaos_hash"] == outcome["clean_hash"], "the state differs from a clean run"
    twice = {m: c for m, c in outcome["joins"].items() if c != {outcome["meters"][m]: 1}}
    assert twice == {}, "a device was not joined exactly once"


async def test_an_applier_and_a_forwarder_killed_mid_run_change_nothing(
    cluster: EmbeddedKafka,
    postgres_url: str,
    settings: Settings,
    tmp_path: Path,
    summary: list[dict[str, Any]],
) -> None:
    """SIGKILL one applier mid-batch and one forwarder mid-join, restart them: the store
    equals a clean single-applier run over the same records, every bind ends bound, and the
    head-end joined each device exactly once."""
    database = await fresh_database(postgres_url)
    async with deployment(cluster, database, tmp_path, settings) as stack:
        outcome = await consumers_under_chaos(
            stack, postgres_url, database, kill=True, add_applier=False
        )
    check_consumers(outcome, "2 applier + forwarder SIGKILLed", summary)


async def test_a_third_applier_joining_under_load_changes_nothing(
    cluster: EmbeddedKafka,
    postgres_url: str,
    settings: Settings,
    tmp_path: Path,
    summary: list[dict[str, Any]],
) -> None:
    """A third applier joins the group while load runs (a rebalance): the same equality."""
    database = await fresh_database(postgres_url)
    async with deployment(cluster, database, tmp_path, settings) as stack:
        outcome = await consumers_under_chaos(
            stack, postgres_url, database, kill=False, add_applier=True
        )
    check_consumers(outcome, "3 third applier joins", summary)


async def test_each_webhook_sent_to_both_replicas_is_once_in_its_topic(
    cluster: EmbeddedKafka,
    postgres_url: str,
    settings: Settings,
    tmp_path: Path,
    summary: list[dict[str, Any]],
) -> None:
    """A partner's delivery and its retry reach both ingress replicas at once: both answer
    2xx, the topic has the webhook once (the replicas share their ids in PostgreSQL)."""
    database = await fresh_database(postgres_url)
    async with deployment(cluster, database, tmp_path, settings) as stack:
        starts = await all_end_offsets(stack.bootstrap, [LIGHT_EVENTS])
        await stack.start_ingress(2)
        load = Load(stack.ingress, rate=20, to_all=True)
        load.start()
        await asyncio.sleep(15)  # 300 webhooks, each to both replicas
        await load.stop()
        ends = await all_end_offsets(stack.bootstrap, [LIGHT_EVENTS])
        in_topic = counts_in_topic(await read_between(stack.bootstrap, starts, ends))
    sent = {answer.message_id for answer in load.answers}
    duplicated = sum(1 for n in in_topic.values() if n > 1)
    summary.append(
        {
            "scenario": "4 each webhook to both replicas",
            "load": f"{len(sent)} webhooks x 2",
            "kills": "none",
            "acknowledged": len(load.acknowledged),
            "lost": len(load.acknowledged - set(in_topic)),
            "duplicated": duplicated,
        }
    )
    assert {a.status for a in load.answers} == {200}
    assert set(in_topic) == sent
    assert duplicated == 0
