"""The state applier as a real process against the real broker."""

from __future__ import annotations

import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from gridhook.contract.codec import CloudEvent, decode, encode, header
from gridhook.contract.event_types import LIGHT_EVENT_TYPES
from gridhook.contract.settings import KafkaSettings
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.state.kinds import LIGHT_ACCOUNT
from gridhook.state.store import Store
from gridhook.state.transitions import APPLIED_TOPICS
from tests.support.kafka import (
    all_end_offsets,
    commit_at_end,
    end_offsets,
    group_caught_up,
    publish_all,
    read_records,
)
from tests.support.light_payloads import SECRET, light_event, light_record, signed
from tests.support.processes import free_port, gridhook_process, http_ok, ingress_with_applier
from tests.support.waiting import eventually

TOKEN = "admin-token-for-tests-0123456789"


def consumer_environment(kafka: str, database: Path) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "GRIDHOOK_DATABASE_URL": f"sqlite:///{database}",
        "GRIDHOOK_LOG_FORMAT": "json",
    }


async def test_webhooks_posted_to_the_ingress_appear_in_the_read_api(
    kafka: str, tmp_path: Path
) -> None:
    """Ingress, broker, state applier and read API, each a real process or server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = consumer_environment(kafka, tmp_path / "state.db") | {
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_ADMIN_TOKEN": TOKEN,
    }
    account = f"acct-{uuid.uuid4().hex[:8]}"
    async with ingress_with_applier(environment, tmp_path, f"t-{uuid.uuid4().hex[:8]}") as session:
        for event_type in (
            "enrollment.plan_requested",
            "enrollment.plan_accepted",
            "location.service_active",
        ):
            body, headers = signed(light_event(event_type, account), now=time.time())
            async with session.post(f"{base}/webhooks/light", data=body, headers=headers) as r:
                assert r.status == 200

        async def shows_service_active() -> bool:
            url = f"{base}/v1/accounts/{account}"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with session.get(url, headers=auth) as response:
                if response.status != 200:
                    return False
                state = await response.json()
            locations = state["locations"]
            return (
                state["facts"].get("plan_accepted", {}).get("value") is True
                and len(locations) == 1
                and locations[0]["facts"].get("service_status", {}).get("value") == "active"
            )

        await eventually(shows_service_active, 30, "the account state in the read API")


async def test_pre_plan_steps_without_a_location_are_accepted_and_applied(
    kafka: str, tmp_path: Path
) -> None:
    """Identity, payment method and address, before any plan: no location in the bodies, each
    answered 200 and applied; the account reads enrollment_pending_client_agent, then, as the
    plan is requested, accepted and the service starts, each status in turn."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = consumer_environment(kafka, tmp_path / "state.db") | {
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_ADMIN_TOKEN": TOKEN,
    }
    account = f"acct-{uuid.uuid4().hex[:8]}"
    steps = [
        ("enrollment.identity_updated", "created"),
        ("account.payment_method_added", "created"),
        ("account.billing_address_updated", "enrollment_pending_client_agent"),
        ("enrollment.plan_requested", "plan_requested"),
        ("enrollment.plan_accepted", "plan_accepted"),
        ("location.service_active", "service_active"),
    ]
    async with ingress_with_applier(environment, tmp_path, f"t-{uuid.uuid4().hex[:8]}") as session:
        for minute, (event_type, status) in enumerate(steps):
            body = light_event(event_type, account, created_at=datetime.now(UTC))
            body["data"]["account"]["enrollment"] = {"has_accepted_plan": False}
            assert ("location" in body["data"]) == (minute >= 4), "pre-plan: no location"
            raw, headers = signed(body, now=time.time())
            async with session.post(f"{base}/webhooks/light", data=raw, headers=headers) as r:
                assert r.status == 200, await r.text()

            async def shows(status: str = status) -> bool:
                auth = {"Authorization": f"Bearer {TOKEN}"}
                async with session.get(f"{base}/v1/accounts/{account}", headers=auth) as r:
                    return r.status == 200 and (await r.json())["status"] == status

            await eventually(shows, 30, f"the account to read {status}")


async def test_sigkill_mid_run_then_restart_equals_an_uninterrupted_run(
    kafka: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """A consumer killed with SIGKILL while applying, then restarted, ends with exactly the
    state and the applied events of a consumer that was never interrupted."""
    accounts = [f"acct-kill-{n}" for n in range(200)]
    events = [
        light_record(accounts[n % len(accounts)], LIGHT_EVENT_TYPES[n % len(LIGHT_EVENT_TYPES)])
        for n in range(20_000)
    ]
    await publish_all(kafka, kafka_settings, "light.events", events)
    ends = await all_end_offsets(kafka, list(APPLIED_TOPICS))

    killed_group, steady_group = f"kill-{uuid.uuid4().hex[:8]}", f"steady-{uuid.uuid4().hex[:8]}"
    killed_db, steady_db = tmp_path / "killed.db", tmp_path / "steady.db"
    killed_store = Store(f"sqlite:///{killed_db}")
    try:
        async with gridhook_process(
            ["consume", "state", "--group", killed_group],
            consumer_environment(kafka, killed_db),
            tmp_path / "killed-1.log",
        ) as first:

            async def applying() -> bool:
                try:
                    return await killed_store.applied_count() > 2000
                except Exception:
                    return False

            await eventually(applying, 60, "the first consumer to apply some records")
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert await killed_store.applied_count() < 20_000, "killed before the end"
        async with (
            gridhook_process(
                ["consume", "state", "--group", killed_group],
                consumer_environment(kafka, killed_db),
                tmp_path / "killed-2.log",
            ),
            gridhook_process(
                ["consume", "state", "--group", steady_group],
                consumer_environment(kafka, steady_db),
                tmp_path / "steady.log",
            ),
        ):
            await eventually(lambda: group_caught_up(kafka, killed_group, ends), 120, "restart")
            await eventually(lambda: group_caught_up(kafka, steady_group, ends), 120, "steady run")
        steady_store = Store(f"sqlite:///{steady_db}")
        try:
            assert await killed_store.snapshot() == await steady_store.snapshot()
            assert await killed_store.applied_count() == await steady_store.applied_count()
            assert await killed_store.applied_count() >= 20_000
        finally:
            await steady_store.close()
    finally:
        await killed_store.close()


async def test_poison_record_is_dead_lettered_and_later_records_applied(
    kafka: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """A record the applier cannot understand lands in light.events.dlq with its origin
    headers, and the records after it (same key) are applied."""
    account = f"acct-dlq-{uuid.uuid4().hex[:8]}"
    good = light_record(account)
    poison = CloudEvent(
        id=f"msg_{uuid.uuid4().hex}",
        source="light",
        type="enrollment.finalized",
        time=datetime.now(UTC),
        key=account.encode(),
        data=b"this is not json",
    )
    dlq_since = await end_offsets(kafka, "light.events.dlq")
    publisher = KafkaPublisher(kafka_settings, kafka)
    await publisher.start()
    try:
        poisoned = await publisher.publish("light.events", encode(poison))
        await publisher.publish("light.events", encode(good))
    finally:
        await publisher.stop()
    database = tmp_path / "state.db"
    store = Store(f"sqlite:///{database}")
    try:
        async with gridhook_process(
            ["consume", "state", "--group", f"dlq-{uuid.uuid4().hex[:8]}"],
            consumer_environment(kafka, database),
            tmp_path / "consumer.log",
        ):

            async def applied() -> bool:
                try:
                    return await store.entity(LIGHT_ACCOUNT, account) is not None
                except Exception:
                    return False

            await eventually(applied, 60, "the good record after the poison one")
    finally:
        await store.close()

    def found(records: list[object]) -> bool:
        return any(getattr(r, "key", None) == account.encode() for r in records)

    records = await read_records(kafka, "light.events.dlq", dlq_since, until=found)
    (dead,) = [r for r in records if r.key == account.encode()]
    assert dead.value == b"this is not json"
    assert header(dead.headers, "dlq_topic") == b"light.events"
    assert header(dead.headers, "dlq_partition") == str(poisoned.partition).encode()
    assert header(dead.headers, "dlq_offset") == str(poisoned.offset).encode()
    assert header(dead.headers, "dlq_error_class") == b"UnapplicableEvent"
    assert b"JSON" in (header(dead.headers, "dlq_error_message") or b"")
    assert decode(dead.key, dead.value, dead.headers).id == poison.id


async def test_a_consumer_process_serves_its_metrics(
    kafka: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """`consume state` answers GET /metrics on GRIDHOOK_CONSUMER_METRICS_PORT: records read per
    topic, applied and duplicates, batch seconds, and a lag of 0 per partition once caught up;
    a record sent twice counts once as applied and once as a duplicate."""
    port = free_port()
    group = f"t-{uuid.uuid4().hex[:8]}"
    environment = consumer_environment(kafka, tmp_path / "state.db") | {
        "GRIDHOOK_CONSUMER_METRICS_PORT": str(port)
    }
    event = light_record(f"acct-{uuid.uuid4().hex[:8]}", "account.created")
    await commit_at_end(kafka, group, APPLIED_TOPICS)  # it reads only this test's records
    async with (
        gridhook_process(["consume", "state", "--group", group], environment, tmp_path / "c.log"),
        aiohttp.ClientSession() as session,
    ):
        await eventually(lambda: http_ok(f"http://127.0.0.1:{port}/metrics"), 30, "/metrics")
        await publish_all(kafka, kafka_settings, "light.events", [event, event])

        async def metrics() -> dict[str, float]:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
            values = {}
            for line in text.splitlines():
                if line.startswith("gridhook_") and f'group="{group}"' in line:
                    name, _, value = line.rpartition(" ")
                    values[name] = float(value)
            return values

        async def counted() -> dict[str, float]:
            values = await metrics()
            read = values.get(
                f'gridhook_consumer_records_total{{group="{group}",topic="light.events"}}'
            )
            return values if read is not None and read >= 2 else {}

        values: dict[str, float] = await eventually(counted, 60, "both records counted")
    assert values[f'gridhook_consumer_applied_total{{group="{group}"}}'] >= 1
    assert values[f'gridhook_consumer_duplicates_total{{group="{group}"}}'] >= 1
    assert values[f'gridhook_consumer_batch_seconds_count{{group="{group}"}}'] >= 1
    lags = [value for name, value in values.items() if name.startswith("gridhook_consumer_lag{")]
    assert lags
    assert all(lag == 0 for lag in lags)
