"""Each meter's bind state, in one place: the bind forwarder's table (`bind_arbiter`, a row per
meter naming the request that last changed it), with the ids of every request admitted
(`bind_requests_seen`). The forwarder decides and records here, one transaction per decision;
the ingress's fast check, the read API and the installation orchestrator read here.

A row holds where its request is (pending, finished, published, reconciling), its deadline and
attempts, the device the meter holds, and the request's own record, so that a forwarder that
restarts, or takes over the meter's partition, goes on from the last step. A request re-driven
from the DLQ is admitted again as a new round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gridhook.contract.codec import decode, format_time, parse_time
from gridhook.kafka.records import InboundRecord
from gridhook.state.binds import (
    BindAction,
    BindRequest,
    BindState,
    MeterBind,
    Reason,
    conflict,
)
from gridhook.state.store import Store
from gridhook.state.tables import bind_arbiter, bind_requests_seen


class Decision:
    """What the arbiter decided on one request."""

    ACCEPTED, REJECTED, DUPLICATE = "accepted", "rejected", "duplicate"


@dataclass(frozen=True)
class Admission:
    """The arbiter's decision on one request: `accepted` (drive it, as round `round`),
    `rejected` (with `reason`) or `duplicate` (`drive` when it is still in flight)."""

    decision: str
    drive: bool
    round: int = 1
    reason: Reason | None = None


@dataclass(frozen=True)
class Job:
    """A request the forwarder drives, as its meter's row records it."""

    request: BindRequest
    record: InboundRecord
    round: int
    deadline_at: float
    attempts: int
    finished: bool
    published: bool
    reconciling: bool
    state: BindState
    reason: str | None

    @classmethod
    def of_row(cls, row: Row[Any]) -> Job:
        record = InboundRecord.from_json(row.request)
        return cls(
            request=request_of(record),
            record=record,
            round=row.round,
            deadline_at=row.deadline_at or 0.0,
            attempts=row.attempts,
            finished=row.finished,
            published=row.published,
            reconciling=row.reconciling,
            state=BindState(row.state),
            reason=row.reason,
        )


def request_of(record: InboundRecord) -> BindRequest:
    """The request a `powerbox.bind.requests` record carries; `InvalidBindRequest` if none."""
    return BindRequest.of_event(decode(record.key, record.value, record.headers))


@dataclass(frozen=True)
class PendingBinds:
    """The unfinished requests in one state: how many, the oldest's age, and counts by age."""

    state: str
    count: int
    oldest_seconds: float
    by_age: dict[str, int]


AGE_BUCKETS = (("under 10 min", 600.0), ("under 1 h", 3600.0), ("under 12 h", 43_200.0))
OLDEST_BUCKET = "12 h or more"


def age_bucket(seconds: float) -> str:
    for name, limit in AGE_BUCKETS:
        if seconds < limit:
            return name
    return OLDEST_BUCKET


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class MeterBinds:
    """Reads and decisions on `bind_arbiter`, one transaction each; `clock` dates them."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = _wall_clock) -> None:
        self._store = store
        self._clock = clock

    def _now(self) -> str:
        return format_time(self._clock())

    # -- reading ------------------------------------------------------------------------

    async def current(self, meter_id: str) -> MeterBind:
        """The meter's bind state (unbound when no request ever changed it)."""
        return (await self.current_of([meter_id]))[meter_id]

    async def current_of(self, meter_ids: Sequence[str]) -> dict[str, MeterBind]:
        """The bind state of each of `meter_ids`."""
        found = dict.fromkeys(meter_ids, MeterBind())
        if not meter_ids:
            return found
        query = select(bind_arbiter).where(bind_arbiter.c.meter_id.in_(list(meter_ids)))
        async with self._store.connect() as connection:
            for row in await connection.execute(query):
                found[row.meter_id] = MeterBind(
                    state=BindState(row.state),
                    bind_id=row.bind_id,
                    device_mac=_device_of(row),
                    reason=row.reason,
                    updated_at=row.updated_at,
                )
        return found

    async def devices_of(self, meter_ids: Sequence[str]) -> dict[str, str | None]:
        """The device each meter holds, or is joining (a pending bind): None for the others.
        (The ingress asks this for every batch of meter reads: three columns, and the request
        records only of the pending binds.)"""
        found: dict[str, str | None] = dict.fromkeys(meter_ids)
        if not meter_ids:
            return found
        table = bind_arbiter.c
        store = self._store
        async with store.connect() as connection:
            held = _DEVICES[store.is_sqlite]
            rows = (await connection.exec_driver_sql(held, (store.array(meter_ids),))).all()
            pending = [meter for meter, state, mac in rows if _named_by_request(state, mac)]
            requests: dict[str, Any] = {}
            if pending:
                wanted = select(table.meter_id, table.request).where(table.meter_id.in_(pending))
                requests = dict((await connection.execute(wanted)).tuples().all())
        for meter, state, mac in rows:
            if meter in requests:
                found[meter] = request_of(InboundRecord.from_json(requests[meter])).mac
            elif state in _HOLDING:
                found[meter] = mac
        return found

    async def job(self, meter_id: str) -> Job | None:
        """The request that holds `meter_id` now."""
        query = select(bind_arbiter).where(bind_arbiter.c.meter_id == meter_id)
        async with self._store.connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else Job.of_row(row)

    async def unfinished(self, partitions: set[int] | None = None) -> list[Job]:
        """The requests whose final outcome is not published, or that are still reconciled
        with the head-end, of the request partitions `partitions` (None: all)."""
        query = select(bind_arbiter).where(~bind_arbiter.c.published | bind_arbiter.c.reconciling)
        if partitions is not None:
            query = query.where(bind_arbiter.c.partition.in_(sorted(partitions)))
        async with self._store.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Job.of_row(row) for row in rows]

    async def pending(self, now: datetime) -> list[PendingBinds]:
        """Every state with unfinished requests, ages counted from when each was admitted."""
        query = (
            select(bind_arbiter.c.state, bind_requests_seen.c.seen_at)
            .join(bind_requests_seen, bind_requests_seen.c.bind_id == bind_arbiter.c.bind_id)
            .where(~bind_arbiter.c.finished)
        )
        async with self._store.connect() as connection:
            rows = (await connection.execute(query)).all()
        ages: dict[str, list[float]] = {}
        for state, seen_at in rows:
            age = max((now - parse_time(seen_at)).total_seconds(), 0.0)
            ages.setdefault(state, []).append(age)
        summary = []
        for state, seconds in sorted(ages.items()):
            by_age: dict[str, int] = {}
            for age in seconds:
                by_age[age_bucket(age)] = by_age.get(age_bucket(age), 0) + 1
            summary.append(PendingBinds(state, len(seconds), max(seconds), by_age))
        return summary

    # -- deciding -----------------------------------------------------------------------

    async def admit(
        self, request: BindRequest, record: InboundRecord, *, redrive: bool, deadline_at: float
    ) -> Admission:
        """Record the request as seen and accept it (its meter becomes pending) or reject it
        (`gridhook.state.binds.conflict`). A bind id seen before is a duplicate, unless
        `redrive` (it comes back from the DLQ) and its last round failed: then it is a new
        round."""
        store = self._store
        async with store.begin() as connection:
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
                    return Admission(Decision.DUPLICATE, drive=in_flight)
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
                        bind_id=request.bind_id, meter_id=request.meter_id, seen_at=self._now()
                    )
                )
            meter = MeterBind(BindState(row.state), device_mac=_device_of(row)) if row else None
            reason = conflict(request.action, meter or MeterBind(), request.mac)
            if reason is not None:
                return Admission(Decision.REJECTED, drive=False, round=round_, reason=reason)
            device = meter.device_mac if meter else None
            await self._take_meter(connection, request, record, round_, deadline_at, device)
        return Admission(Decision.ACCEPTED, drive=True, round=round_)

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
            "action": str(request.action),
            "state": str(request.action.pending),
            "reason": None,
            "finished": False,
            "published": False,
            "request": record.to_json(),
            "updated_at": self._now(),
            "device_mac": device,
            "deadline_at": deadline_at,
            "attempts": 0,
            "round": round_,
            "reconciling": False,
            "partition": record.partition,
        }
        insert = self._store.insert(bind_arbiter).values(values)
        await connection.execute(
            insert.on_conflict_do_update(
                index_elements=[bind_arbiter.c.meter_id],
                set_={k: v for k, v in values.items() if k != "meter_id"},
            )
        )

    async def count_attempt(self, request: BindRequest, attempts: int) -> None:
        """Record that the request is being submitted for the `attempts`-th time."""
        await self._update(request, attempts=attempts)

    async def finish(
        self,
        request: BindRequest,
        state: BindState,
        reason: str | None,
        *,
        reconciling: bool = False,
    ) -> None:
        """Record the meter's state after the request (and whether a late outcome is still
        awaited from the head-end); its final result is to be published next."""
        device: dict[str, Any] = {}
        if state is BindState.BOUND:
            device = {"device_mac": request.mac}
        elif state is BindState.UNBOUND:
            device = {"device_mac": None}
        await self._update(
            request,
            state=str(state),
            reason=reason,
            finished=True,
            published=False,
            reconciling=reconciling,
            updated_at=self._now(),
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
        async with self._store.begin() as connection:
            await connection.execute(
                update(bind_arbiter)
                .where(
                    bind_arbiter.c.meter_id == request.meter_id,
                    bind_arbiter.c.bind_id == request.bind_id,
                )
                .values(**values)
            )


_HOLDING = frozenset(state.value for state in BindState if state.holds_device)


_DEVICES = {  # by whether the database is SQLite; the meters as one parameter (`Database.array`)
    True: """SELECT meter_id, state, device_mac FROM bind_arbiter
        WHERE meter_id IN (SELECT value FROM json_each(?))""",
    False: """SELECT meter_id, state, device_mac FROM bind_arbiter
        WHERE meter_id = ANY($1::text[])""",
}


def _named_by_request(state: str, device_mac: str | None) -> bool:
    """Whether a meter's device (held or joining) is named only by its request record."""
    return state == BindState.BIND_PENDING or (state in _HOLDING and device_mac is None)


def _device_of(row: Row[Any]) -> str | None:
    """The device the meter holds: recorded since v4; before, the bind that bound it."""
    if not BindState(row.state).holds_device:
        return None
    if row.device_mac is not None:
        return str(row.device_mac)
    return request_of(InboundRecord.from_json(row.request)).mac


def _failed(row: Row[Any]) -> bool:
    """True when the row's request ended in a failure (a failed unbind leaves `bound`)."""
    if row.action == BindAction.BIND:
        return bool(row.state == BindState.BIND_FAILED)
    return row.state == BindState.BOUND and row.reason is not None
