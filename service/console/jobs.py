"""Re-drives and replays the console runs in the background, with their progress.

A job is one `gridhook.kafka.replay.replay` call (or several, for a selection of dead letters) in a
task of the console process; pages poll its progress. Jobs are kept in memory: a console
restart forgets finished jobs, and interrupts a running one (what it sent stays sent; run it
again to send the rest, and the state applier skips what it already applied).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gridhook.contract.errors import GridhookError
from gridhook.kafka.replay import SentRecord

log = logging.getLogger("gridhook.console")

KEPT_JOBS = 50


@dataclass
class Job:
    """One background re-drive or replay."""

    job_id: int
    description: str
    started: float
    done: int = 0
    total: int = 0
    sent: int = 0
    finished: bool = False
    error: str | None = None
    operator: str = ""
    redriven: list[SentRecord] = field(default_factory=list)
    """The records a re-drive sent (each followed to its outcome on the job's page)."""

    @property
    def state(self) -> str:
        """`running`, `finished` or `failed`: the one state every page shows."""
        if not self.finished:
            return "running"
        return "failed" if self.error else "finished"

    def progress(self, done: int, total: int, elapsed: float) -> None:
        self.done, self.total = done, total

    @property
    def percent(self) -> int:
        if self.finished and self.error is None:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.job_id,
            "description": self.description,
            "done": self.done,
            "total": self.total,
            "sent": self.sent,
            "percent": self.percent,
            "finished": self.finished,
            "state": self.state,
            "error": self.error,
        }


Work = Callable[[Job], Awaitable[int]]
"""Does the job's work, reporting through `Job.progress`; returns how many records it sent."""


@dataclass
class Jobs:
    """The console's jobs, newest last; at most `KEPT_JOBS` finished ones are remembered."""

    _jobs: dict[int, Job] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def start(self, description: str, work: Work, operator: str = "") -> Job:
        job = Job(next(self._ids), description, time.time(), operator=operator)
        self._jobs[job.job_id] = job
        task = asyncio.create_task(self._run(job, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._forget_old()
        return job

    async def _run(self, job: Job, work: Work) -> None:
        try:
            job.sent = await work(job)
        except GridhookError as error:
            job.error = f"{type(error).__name__}: {error}"
            log.warning(
                "console job failed",
                extra={"fields": {"job": job.job_id, "error": type(error).__name__}},
            )
        finally:
            job.finished = True
        log.info("console job finished", extra={"fields": {"job": job.job_id, "sent": job.sent}})

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def recent(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda job: job.job_id, reverse=True)

    def _forget_old(self) -> None:
        finished = [job for job in self.recent() if job.finished]
        for job in finished[KEPT_JOBS:]:
            del self._jobs[job.job_id]

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
