"""What became of each record a re-drive sent: applied by the state applier, a duplicate of
what it had applied, dead-lettered again (with the new error), or not yet known."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from gridhook.contract.codec import format_time
from gridhook.contract.errors import GridhookError
from gridhook.contract.topics import DLQ_SUFFIX
from gridhook.kafka import browsing
from gridhook.kafka.replay import SentRecord
from gridhook.state.transitions import APPLIED_TOPICS
from service.console.jobs import Job
from service.console.keys import BOOTSTRAP, STORE

SHOWN = 200
"""At most this many records of a job are followed to their outcome."""


@dataclass(frozen=True)
class Outcome:
    record: SentRecord
    state: str
    """`applied`, `duplicate`, `dead-lettered again`, `pending`, or `sent` (no consumer whose
    outcome the console can see)."""
    detail: str


async def outcomes_of(app: web.Application, job: Job) -> list[Outcome]:
    """The outcome of each record `job` re-drove (the first `SHOWN`)."""
    sent = job.redriven[:SHOWN]
    if not sent:
        return []
    since = datetime.fromtimestamp(job.started, UTC)
    again: dict[str, browsing.RecordView] = {}
    destinations = sorted({record.destination + DLQ_SUFFIX for record in sent})
    try:
        for record in sent:
            if record.event_id in again:
                continue
            found = await browsing.with_id(
                app[BOOTSTRAP], destinations, record.event_id, since - timedelta(seconds=1)
            )
            for view in found:
                if view.timestamp >= since:
                    again[record.event_id] = view
        found_outcomes = [await _outcome(app, record, job, again) for record in sent]
    except GridhookError as error:
        return [
            Outcome(record, "pending", f"cannot look: {type(error).__name__}") for record in sent
        ]
    return found_outcomes


async def _outcome(
    app: web.Application, record: SentRecord, job: Job, again: dict[str, browsing.RecordView]
) -> Outcome:
    dead = again.get(record.event_id)
    if dead is not None:
        why = f"{dead.header('dlq_error_class') or ''}: {dead.header('dlq_error_message') or ''}"
        return Outcome(record, "dead-lettered again", why.strip(": "))
    if record.destination not in APPLIED_TOPICS:
        return Outcome(record, "sent", f"to {record.destination}")
    applied = await app[STORE].applied_event([f"{record.event_source}:{record.event_id}"])
    if applied is None:
        return Outcome(record, "pending", "not applied yet")
    applied_at = applied[4]
    if applied_at >= format_time(datetime.fromtimestamp(job.started, UTC)):
        return Outcome(record, "applied", f"at {applied_at}")
    return Outcome(record, "duplicate", f"already applied at {applied_at}")
