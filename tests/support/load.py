"""Steady signed load for the chaos tests: Light webhooks at a fixed rate, every answer kept."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from tests.support.light_payloads import SECRET, light_event, signed


@dataclass(frozen=True)
class Answer:
    """One webhook sent: its id, when it left and was answered (monotonic), and its status
    (0 when no answer came)."""

    message_id: str
    sent: float
    answered: float
    status: int


@dataclass
class Load:
    """Sends `rate` signed Light webhooks a second to the ingress `bases`, each to one of them
    in turn, or to every one of them with `to_all`, until stopped."""

    bases: Sequence[str]
    rate: float
    to_all: bool = False
    answers: list[Answer] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    @property
    def acknowledged(self) -> set[str]:
        """The message ids some ingress answered 2xx."""
        return {answer.message_id for answer in self.answers if 200 <= answer.status < 300}

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=15)
        started = time.monotonic()
        sending: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for n in itertools.count():
                due = started + n / self.rate
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), max(0.0, due - time.monotonic()))
                if self._stop.is_set():
                    break
                body, headers = signed(light_event("enrollment.finalized"), now=time.time())
                targets = self.bases if self.to_all else [self.bases[n % len(self.bases)]]
                for base in targets:
                    task = asyncio.create_task(self._send(session, base, body, headers))
                    sending.add(task)
                    task.add_done_callback(sending.discard)
            await asyncio.gather(*sending)

    async def _send(
        self, session: aiohttp.ClientSession, base: str, body: bytes, headers: dict[str, str]
    ) -> None:
        sent = time.monotonic()
        status = 0
        try:
            async with session.post(f"{base}/webhooks/light", data=body, headers=headers) as r:
                status = r.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        self.answers.append(Answer(headers["webhook-id"], sent, time.monotonic(), status))


__all__ = ["SECRET", "Answer", "Load"]
