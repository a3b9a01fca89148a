"""The arbiter of each meter's bind state: the rules of `gridhook.state.bind_rules` applied to
the forwarder's own tables, one transaction per decision.

`bind_requests_seen` remembers every bind id admitted (so a redelivered request is a duplicate)
and how many rounds it was driven (a request re-driven from the DLQ is driven again, as a new
round). `bind_arbiter` holds, per meter, the request that last changed its state: where it is
(pending, finished, published, reconciling), its deadline and attempts, and the device the
meter holds. Every step a driver takes is recorded here before the next, so a forwarder that
restarts, or takes over the meter's partition, goes on from the last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from consumers.bind.requests import BindRequest, record_from_json, record_to_json
from consumers.runtime import InboundRecord
from gridhook.contract.bind_results import REJECTED_CONFLICT, REJECTED_WRONG_DEVICE
from gridhook.contract.codec import format_time
from gridhook.state.bind_rules import BIND, conflicts, pending_state
from gridhook.state.powerbox import same_device
from gridhook.state.store import Store
from gridhook.state.tables import bind_arbiter, bind_requests_seen

ACCEPTED, REJECTED, DUPLICATE = "accepted", "rejected", "duplicate"


@dataclass(frozen=True)
class Admission:
    """The arbiter's decision on one request: `accepted` (drive it, as round `round`),
    `rejected` (with `reason`) or `duplicate` (`drive` when it is still in flight)."""

    decision: str
    drive: bool
    round: int = 1
    reason: str | None = None


@dataclass(frozen=True)
class Job:
    """A request the forwarder drives, as its row records it."""

    request: BindRequest
    record: InboundRecord
    round: int
    deadline_at: float
    attempts: int
    finished: bool
    published: bool
    reconciling: bool
    state: str
    reason: str | None

    @classmethod
    def of_row(cls, row: Row[Any]) -> Job:
        record = record_from_json(row.request)
        return cls(
            request=BindRequest.of_record(record),
            record=record,
            round=row.round,
            deadline_at=row.deadline_at or 0.0,
            attempts=row.attempts,
            finished=row.finished,
            published=row.published,
            reconciling=row.reconciling,
            state=row.state,
            reason=row.reason,
        )


def _now() -> str:
    return format_time(datetime.now(UTC))


_FAILED_STATES = {BIND: "bind_failed"}


class BindArbiter:
    """Decisions and their durable record, in the state store's database."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def admit(
        self, request: BindRequest, record: InboundRecord, *, redrive: bool, deadline_at: float
    ) -> Admission:
        """Record the request as seen and accept it (its meter becomes pending) or reject it
        (it conflicts with the meter's state, or names another device than the one bound).
        A bind id seen before is a duplicate, unless `redrive` (it comes back from the DLQ)
        and its last round failed: then it is a new round."""
        store = self._store
        async with store.translated(), store.engine.begin() as connection:
            rounds = await connection.scalar(
                select(bind_requests_seen.c.rounds).where(
                    bind_requests_seen.c.bind_id == request.bind_id
                )
            )
            query = select(bind_arbiter).where(bind_arbiter.c.meter_id == request.meter_id)
            if not store.is_sqlite:
                query = query.with_for_update()
            row = (await connection.execute(query)).first()
            mine = row is not None and row.bind_id == request.bind_id
            if rounds is not None:
                in_flight = mine and row is not None and not row.finished
                failed_last = mine and row is not None and row.finished and _failed(row)
                if not (redrive and (failed_last or not mine)) or in_flight:
                    return Admission(DUPLICATE, drive=in_flight)
                round_ = rounds + 1
                await connection.execute(
                    update(bind_requests_seen)
                    .where(bind_requests_seen.c.bind_id == request.bind_id)
                    .values(rounds=round_)
                )
            else:
                round_ = 1
                await connection.execute(
                    bind_requests_seen.insert().values(
                        bind_id=request.bind_id, meter_id=request.meter_id, seen_at=_now()
                    )
                )
            state = row.state if row is not None else "unbound"
            if conflicts(request.action, state):
                return Admission(REJECTED, drive=False, round=round_, reason=REJECTED_CONFLICT)
            device = _device_of(row)
            if request.action != BIND and not same_device(device, request.mac):
                return Admission(REJECTED, drive=False, round=round_, reason=REJECTED_WRONG_DEVICE)
            await self._take_meter(connection, request, record, round_, deadline_at, device)
        return Admission(ACCEPTED, drive=True, round=round_)

    async def _take_meter(
        self,
        connection: AsyncConnection,
        request: BindRequest,
        record: InboundRecord,
        round_: int,
        deadline_at: float,
        device: str | None,
    ) -> None:
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
            "device_mac": device,
            "deadline_at": deadline_at,
            "attempts": 0,
            "round": round_,
            "reconciling": False,
            "partition": record.partition,
        }
        dialect = sqlite if self._store.is_sqlite else postgresql
        insert = dialect.insert(bind_arbiter).values(values)
        await connection.execute(
            insert.on_conflict_do_update(
                index_elements=[bind_arbiter.c.meter_id],
                set_={k: v for k, v in values.items() if k != "meter_id"},
            )
        )

    async def unfinished(self, partitions: set[int] | None = None) -> list[Job]:
        """The requests whose final outcome is not published, or that are still reconciled
        with the head-end, of the request partitions `partitions` (None: all)."""
        query = select(bind_arbiter).where(~bind_arbiter.c.published | bind_arbiter.c.reconciling)
        if partitions is not None:
            query = query.where(bind_arbiter.c.partition.in_(sorted(partitions)))
        async with self._store.translated(), self._store.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Job.of_row(row) for row in rows]

    async def job(self, meter_id: str) -> Job | None:
        """The request that holds `meter_id` now."""
        query = select(bind_arbiter).where(bind_arbiter.c.meter_id == meter_id)
        async with self._store.translated(), self._store.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else Job.of_row(row)

    async def count_attempt(self, request: BindRequest, attempts: int) -> None:
        """Record that the request is being submitted for the `attempts`-th time."""
        await self._update(request, attempts=attempts)

    async def finish(
        self, request: BindRequest, state: str, reason: str | None, *, reconciling: bool = False
    ) -> None:
        """Record the meter's state after the request (and whether a late outcome is still
        awaited from the head-end); its final result is to be published next."""
        device: dict[str, Any] = {}
        if state == "bound":
            device = {"device_mac": request.mac}
        elif state == "unbound":
            device = {"device_mac": None}
        await self._update(
            request,
            state=state,
            reason=reason,
            finished=True,
            published=False,
            reconciling=reconciling,
            updated_at=_now(),
            **device,
        )

    async def mark_published(self, request: BindRequest) -> None:
        """Record that the request's final outcome is on `powerbox.bind.results`."""
        await self._update(request, published=True)

    async def stop_reconciling(self, request: BindRequest) -> None:
        """The head-end's last word on a request past its deadline agrees with what was
        published: nothing is left to reconcile."""
        await self._update(request, reconciling=False)

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


def _device_of(row: Row[Any] | None) -> str | None:
    """The device the meter holds: recorded since v4; before, the bind that bound it."""
    if row is None or row.state not in ("bound", "unbind_pending"):
        return None
    if row.device_mac is not None:
        return str(row.device_mac)
    return BindRequest.of_record(record_from_json(row.request)).mac


def _failed(row: Row[Any]) -> bool:
    """True when the row's request ended in a failure (a failed unbind leaves `bound`)."""
    if row.action == BIND:
        return bool(row.state == _FAILED_STATES[BIND])
    return row.state == "bound" and row.reason is not None
