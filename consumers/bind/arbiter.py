"""The arbiter of each meter's bind state: the rules of `gridhook.state.bind_rules` applied to
the forwarder's own tables, one transaction per decision.

`bind_requests_seen` remembers every bind id admitted (so a redelivered request is a duplicate)
and `bind_arbiter` holds, per meter, the request that last changed its state, until its outcome
is published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.dialects import postgresql, sqlite

from consumers.bind.requests import BindRequest, record_to_json
from consumers.runtime import InboundRecord
from gridhook.contract.codec import format_time
from gridhook.state.bind_rules import conflicts, pending_state
from gridhook.state.store import Store
from gridhook.state.tables import bind_arbiter, bind_requests_seen

ACCEPTED, REJECTED, DUPLICATE = "accepted", "rejected", "duplicate"


@dataclass(frozen=True)
class Admission:
    """The arbiter's decision on one request, and whether the request is to be driven (newly
    accepted, or redelivered while its outcome was still unpublished)."""

    decision: str
    drive: bool


def _now() -> str:
    return format_time(datetime.now(UTC))


class BindArbiter:
    """Decisions and their durable record, in the state store's database."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def admit(self, request: BindRequest, record: InboundRecord) -> Admission:
        """Record the request as seen and accept it (its meter becomes pending) or reject it
        (it conflicts with the meter's state); a bind id seen before is a duplicate."""
        store = self._store
        async with store.translated(), store.engine.begin() as connection:
            seen = await connection.scalar(
                select(bind_requests_seen.c.bind_id).where(
                    bind_requests_seen.c.bind_id == request.bind_id
                )
            )
            query = select(bind_arbiter).where(bind_arbiter.c.meter_id == request.meter_id)
            if not store.is_sqlite:
                query = query.with_for_update()
            row = (await connection.execute(query)).first()
            if seen is not None:
                in_flight = row is not None and row.bind_id == request.bind_id and not row.finished
                return Admission(DUPLICATE, drive=in_flight)
            await connection.execute(
                bind_requests_seen.insert().values(
                    bind_id=request.bind_id, meter_id=request.meter_id, seen_at=_now()
                )
            )
            if conflicts(request.action, row.state if row is not None else "unbound"):
                return Admission(REJECTED, drive=False)
            values = {
                "meter_id": request.meter_id,
                "bind_id": request.bind_id,
                "action": request.action,
                "state": pending_state(request.action),
                "reason": None,
                "finished": False,
                "published": False,
                "request": record_to_json(record),
                "updated_at": _now(),
            }
            dialect = sqlite if store.is_sqlite else postgresql
            insert = dialect.insert(bind_arbiter).values(values)
            await connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[bind_arbiter.c.meter_id],
                    set_={k: v for k, v in values.items() if k != "meter_id"},
                )
            )
        return Admission(ACCEPTED, drive=True)

    async def unpublished(self) -> list[Row[Any]]:
        """The requests whose final outcome is not published yet (finished or not)."""
        async with self._store.translated(), self._store.engine.connect() as connection:
            result = await connection.execute(select(bind_arbiter).where(~bind_arbiter.c.published))
            return list(result.all())

    async def finish(self, request: BindRequest, state: str, reason: str | None) -> None:
        """Record the meter's state after the request."""
        await self._update(request, state=state, reason=reason, finished=True, updated_at=_now())

    async def mark_published(self, request: BindRequest) -> None:
        """Record that the request's final outcome is on `powerbox.bind.results`."""
        await self._update(request, published=True)

    async def _update(self, request: BindRequest, **values: Any) -> None:
        """Update the meter's row, if it still belongs to this request."""
        async with self._store.translated(), self._store.engine.begin() as connection:
            await connection.execute(
                update(bind_arbiter)
                .where(
                    bind_arbiter.c.meter_id == request.meter_id,
                    bind_arbiter.c.bind_id == request.bind_id,
                )
                .values(**values)
            )
