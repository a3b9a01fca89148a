"""The console's audit trail: every operator action (re-drive, replay, reveal, resume, cancel,
login) published to `gridhook.audit` with who, when, what and how many records, before the
action's answer; the audit page reads it back. A reveal names the record, never the value."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from gridhook.contract import topics
from gridhook.contract.codec import CloudEvent, encode, format_time
from gridhook.kafka import browsing
from service.console.keys import BOOTSTRAP, CLOCK, PUBLISHER
from service.console.operators import Operator

AUDIT_TYPE = "gridhook.audit.recorded"


async def record(
    app: web.Application,
    operator: Operator,
    action: str,
    target: str,
    count: int = 1,
    detail: str | None = None,
) -> None:
    """Publish one action to the audit topic (acknowledged before it returns)."""
    now = datetime.fromtimestamp(app[CLOCK](), UTC)
    body = {
        "operator": operator.name,
        "role": operator.role,
        "action": action,
        "target": target,
        "count": count,
        "detail": detail,
        "at": format_time(now),
    }
    event = CloudEvent(
        id=f"audit:{uuid.uuid4().hex}",
        source="console",
        type=AUDIT_TYPE,
        time=now,
        key=operator.name.encode(),
        data=orjson.dumps(body),
    )
    await app[PUBLISHER].publish(topics.AUDIT, encode(event))


async def recent(app: web.Application, page: int = 0) -> tuple[list[dict[str, Any]], bool]:
    """The latest actions, newest first, and whether there are older ones."""
    found = await browsing.browse(app[BOOTSTRAP], topics.AUDIT, browsing.Filter(), page)
    return [orjson.loads(view.value) for view in found.records], found.has_more


async def redriven(app: web.Application, targets: set[str]) -> dict[str, dict[str, Any]]:
    """For each of `targets` (`topic/partition/offset`) re-driven, the latest re-drive."""
    found = await browsing.browse(
        app[BOOTSTRAP], topics.AUDIT, browsing.Filter(type_glob=AUDIT_TYPE), 0, size=2_000
    )
    marks: dict[str, dict[str, Any]] = {}
    for view in reversed(found.records):
        entry = orjson.loads(view.value)
        if entry.get("action") != "redrive":
            continue
        for target in (entry.get("detail") or "").split():
            if target in targets:
                marks[target] = entry
    return marks
