"""Each installation's durable workflow, in the state store's `installation_workflows` table.

A row holds the installer's latest document, the workflow's status, what its steps learnt
(`progress`: the priced plans, the chosen plan and start date, the location, the WattShift
home) and its timeline: every step taken, numbered, with how many of them are published to
`gridhook.installations.events` (a transactional outbox: a step is recorded with the state it
leads to in one transaction, then published; an orchestrator that restarts publishes what is
left). Rows belong to the partition of `gridhook.installations` their record came from: an
orchestrator drives only the rows of the partitions it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, insert, or_, select, update

from gridhook.contract.codec import format_time
from gridhook.state.installations import CANCELED, CREATED, FINISHED, NEEDS_ATTENTION
from gridhook.state.store import Store
from gridhook.state.tables import installation_workflows as table


def now_text() -> str:
    return format_time(datetime.now(UTC))


@dataclass
class Workflow:
    """One installation's workflow as its row records it."""

    installation_id: str
    partition: int
    document: dict[str, Any]
    status: str
    progress: dict[str, Any] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    published: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED and self.published == len(self.timeline)

    def record(
        self, status: str, step: str, detail: dict[str, Any] | None, reason: str | None
    ) -> dict[str, Any]:
        """Add a step to the timeline (it leads to `status`); save the workflow after."""
        entry = {
            "eventId": f"{self.installation_id}:{len(self.timeline) + 1}",
            "step": step,
            "status": status,
            "detail": detail,
            "reason": reason,
            "occurredAt": now_text(),
        }
        self.timeline.append(entry)
        self.status = status
        return entry

    @classmethod
    def of_row(cls, row: Row[Any]) -> Workflow:
        return cls(
            installation_id=row.installation_id,
            partition=row.partition,
            document=dict(row.document),
            status=row.status,
            progress=dict(row.progress),
            timeline=list(row.timeline),
            published=row.published,
        )


@dataclass(frozen=True)
class Admission:
    """What admitting an installation record did: `new`, `resumed` (it was waiting for
    attention and the installer sent it again), `updated` (another document, same workflow) or
    `duplicate`."""

    decision: str
    workflow: Workflow


class WorkflowRepository:
    """Reads and writes of `installation_workflows`, one transaction each."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def admit(
        self, installation_id: str, partition: int, document: dict[str, Any]
    ) -> Admission:
        """Start the workflow of a new installation, or take the installer's new document for
        an existing one (a workflow that needs attention resumes from the step it stopped at)."""
        store = self._store
        async with store.begin() as connection:
            query = select(table).where(table.c.installation_id == installation_id)
            if not store.is_sqlite:
                query = query.with_for_update()
            row = (await connection.execute(query)).first()
            if row is None:
                workflow = Workflow(installation_id, partition, document, CREATED)
                workflow.record(CREATED, "admitted", None, None)
                await connection.execute(insert(table).values(**_values(workflow)))
                return Admission("new", workflow)
            workflow = Workflow.of_row(row)
            if workflow.document == document:
                return Admission("duplicate", workflow)
            workflow.document = document
            decision = "updated"
            action = document.get("operatorAction") or {}
            if action.get("action") == "cancel" and workflow.status not in FINISHED - {
                NEEDS_ATTENTION
            }:
                detail = {"by": action.get("by"), "from": workflow.status}
                workflow.record(CANCELED, "canceled", detail, None)
                decision = "canceled"
            elif workflow.status == NEEDS_ATTENTION:
                resume = workflow.progress.pop("stopped_at", CREATED)
                workflow.record(resume, "resumed", {"from": resume}, None)
                decision = "resumed"
            await connection.execute(
                update(table)
                .where(table.c.installation_id == installation_id)
                .values(**_values(workflow))
            )
            return Admission(decision, workflow)

    async def save(self, workflow: Workflow) -> None:
        store = self._store
        async with store.begin() as connection:
            await connection.execute(
                update(table)
                .where(table.c.installation_id == workflow.installation_id)
                .values(**_values(workflow))
            )

    async def mark_published(self, workflow: Workflow, published: int) -> None:
        store = self._store
        async with store.begin() as connection:
            await connection.execute(
                update(table)
                .where(table.c.installation_id == workflow.installation_id)
                .where(table.c.published < published)
                .values(published=published)
            )
        workflow.published = max(workflow.published, published)

    async def load(self, installation_id: str) -> Workflow | None:
        async with self._store.connect() as connection:
            row = (
                await connection.execute(
                    select(table).where(table.c.installation_id == installation_id)
                )
            ).first()
        return None if row is None else Workflow.of_row(row)

    async def unfinished(self, partitions: set[int] | None) -> list[Workflow]:
        """The workflows of `partitions` (None: all) with a step to take or to publish."""
        query = select(table).where(
            or_(table.c.status.not_in(sorted(FINISHED)), table.c.published < table.c.steps)
        )
        if partitions is not None:
            query = query.where(table.c.partition.in_(sorted(partitions)))
        async with self._store.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Workflow.of_row(row) for row in rows]


def _values(workflow: Workflow) -> dict[str, Any]:
    return {
        "installation_id": workflow.installation_id,
        "partition": workflow.partition,
        "document": workflow.document,
        "status": workflow.status,
        "progress": workflow.progress,
        "timeline": workflow.timeline,
        "published": workflow.published,
        "steps": len(workflow.timeline),
        "updated_at": now_text(),
    }
