"""Bind requests still on their way to an outcome, by state and age (for metrics and the
console's health page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from gridhook.contract.codec import parse_time
from gridhook.state.store import Store
from gridhook.state.tables import bind_arbiter, bind_requests_seen

AGE_BUCKETS = (("under 10 min", 600.0), ("under 1 h", 3600.0), ("under 12 h", 43_200.0))
OLDEST_BUCKET = "12 h or more"


@dataclass(frozen=True)
class PendingBinds:
    """The unfinished requests in one state: how many, the oldest's age, and counts by age."""

    state: str
    count: int
    oldest_seconds: float
    by_age: dict[str, int]


def age_bucket(seconds: float) -> str:
    for name, limit in AGE_BUCKETS:
        if seconds < limit:
            return name
    return OLDEST_BUCKET


async def pending_binds(store: Store, now: datetime) -> list[PendingBinds]:
    """Every state with unfinished requests (`bind_pending`, `unbind_pending`), ages counted
    from when the forwarder first admitted the request."""
    query = (
        select(bind_arbiter.c.state, bind_requests_seen.c.seen_at)
        .join(bind_requests_seen, bind_requests_seen.c.bind_id == bind_arbiter.c.bind_id)
        .where(~bind_arbiter.c.finished)
    )
    async with store.translated(), store.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    ages: dict[str, list[float]] = {}
    for state, seen_at in rows:
        ages.setdefault(state, []).append(max((now - parse_time(seen_at)).total_seconds(), 0.0))
    summary = []
    for state, seconds in sorted(ages.items()):
        by_age: dict[str, int] = {}
        for age in seconds:
            by_age[age_bucket(age)] = by_age.get(age_bucket(age), 0) + 1
        summary.append(PendingBinds(state, len(seconds), max(seconds), by_age))
    return summary
