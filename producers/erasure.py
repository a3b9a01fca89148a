"""`gridhook people erase ACCOUNT`: an operator erases an account's people, as Bright's
`accountDeleted` does. One record on `gridhook.people` (keyed by the account); the state
applier deletes the people's keys and drops their sealed fields and indexes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from gridhook.contract.codec import CloudEvent, encode, format_time
from gridhook.contract.event_types import ACCOUNT_ERASED
from gridhook.contract.settings import Settings
from gridhook.contract.topics import PEOPLE
from gridhook.kafka.publisher import KafkaPublisher


async def erase(settings: Settings, account_id: str) -> str:
    """Publish the erasure of `account_id`; its event id."""
    now = datetime.now(UTC)
    body = {"accountId": account_id, "occurredAt": format_time(now), "by": "operator"}
    event = CloudEvent(
        id=f"erase:{account_id}:{int(now.timestamp())}",
        source="operator",
        type=ACCOUNT_ERASED,
        time=now,
        key=account_id.encode(),
        data=orjson.dumps(body),
    )
    publisher = KafkaPublisher(settings.kafka, settings.kafka.bootstrap)
    await publisher.start()
    try:
        await publisher.publish(PEOPLE, encode(event))
    finally:
        await publisher.stop()
    return event.id
