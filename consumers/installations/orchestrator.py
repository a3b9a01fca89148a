"""The orchestrator: the `BatchHandler` of `gridhook.installations`, and the only caller of
Light's client-agent API and WattShift's onboarding API.

Each record admits its installation's workflow in one transaction
(`gridhook.state.workflows`): a new installation starts; the same document again is
a duplicate; another document for an installation replaces it (steps not yet taken follow
it), and one that needs attention resumes from the step it stopped at. Then a task per
installation drives the workflow (`consumers.installations.driver`), without blocking other
installations or the consumer.

Like the bind forwarder, it drives only the workflows of the partitions it holds: when
partitions are assigned (at start, or taken over from an orchestrator that stopped or died) it
resumes their unfinished workflows; when they are revoked it stops driving theirs at the
durable point each has reached. Any number of orchestrators may run in one group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson

from consumers.installations.driver import InstallationDriver
from consumers.partition_tasks import PartitionOwnedWork
from gridhook.contract import tracing
from gridhook.contract.errors import InvalidRecord
from gridhook.contract.topics import INSTALLATIONS
from gridhook.kafka.consumer import Counts
from gridhook.kafka.records import InboundRecord
from gridhook.state.workflows import Workflow, WorkflowRepository

log = logging.getLogger("gridhook.installations")


def _document(record: InboundRecord) -> dict[str, Any]:
    try:
        document = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError:
        raise InvalidRecord("installation record is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("installationId"), str):
        raise InvalidRecord("installation record has no installationId")
    return document


class Orchestrator(PartitionOwnedWork[Workflow]):
    """Admits each installation record, then drives each workflow in a task of its own."""

    topic = INSTALLATIONS
    noun = "installations"

    def __init__(self, repository: WorkflowRepository, driver: InstallationDriver) -> None:
        self._repository = repository
        self._driver = driver
        super().__init__()

    async def handle(self, records: Sequence[InboundRecord]) -> Counts:
        counts = Counts()
        for record in records:
            try:
                document = _document(record)
            except InvalidRecord as error:
                counts.rejected.append((record, error))
                continue
            installation_id = document["installationId"]
            # A new document must not race a task still saving the old one.
            await self._driving.stop([installation_id])
            admission = await self._repository.admit(installation_id, record.partition, document)
            if admission.decision == "duplicate":
                counts.duplicates += 1
            else:
                counts.applied += 1
            if not admission.workflow.finished:
                # The workflow's task, and every call it makes to Light and WattShift,
                # continue the installation record's trace (one resumed later starts afresh).
                with tracing.tracer().start_as_current_span(
                    "installation orchestrator",
                    context=tracing.from_record(record.headers),
                    kind=tracing.CONSUMER,
                ):
                    self.drive(admission.workflow)
        return counts

    async def unfinished(self, partitions: set[int] | None) -> list[Workflow]:
        """Workflows with a step to take or to publish."""
        return await self._repository.unfinished(partitions)

    def drive(self, workflow: Workflow) -> None:
        installation_id = workflow.installation_id
        if self._driving.running(installation_id) is not None:
            return
        self._driving.start(
            installation_id,
            workflow.partition,
            self._run(workflow),
            f"installation:{installation_id}",
        )

    async def _run(self, workflow: Workflow) -> None:
        try:
            await self._driver.run(workflow)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "installation driving failed",
                extra={"fields": {"installation": workflow.installation_id}},
            )
