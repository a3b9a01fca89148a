"""The health page's numbers: the ingress's request and error rates, sampled from its
`/metrics` every few seconds (the headline over the last minute, as Prometheus's `rate(...[1m])`
would say), and whether each gridhook process is up, with its version."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger("gridhook.console")

SAMPLE_EVERY_SECONDS = 5.0
KEPT_SAMPLES = 120  # ten minutes


@dataclass(frozen=True)
class Totals:
    """Cumulative request counts of the ingress at one moment."""

    at: float
    requests: float
    client_errors: float
    server_errors: float


def totals_of(text: str, at: float) -> Totals:
    """The totals in a Prometheus text exposition of the ingress."""
    requests = client = server = 0.0
    for family in text_string_to_metric_families(text):
        if family.name not in ("gridhook_requests", "gridhook_requests_total"):
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            requests += sample.value
            status = sample.labels.get("status", "")
            if status.startswith("4"):
                client += sample.value
            elif status.startswith("5"):
                server += sample.value
    return Totals(at, requests, client, server)


@dataclass(frozen=True)
class Rates:
    """Per second between two samples."""

    at: float
    requests: float
    client_errors: float
    server_errors: float


def rates_between(before: Totals, after: Totals) -> Rates:
    seconds = max(after.at - before.at, 1e-9)

    def rate(a: float, b: float) -> float:
        return max(b - a, 0.0) / seconds  # a restarted ingress starts from zero again

    return Rates(
        after.at,
        rate(before.requests, after.requests),
        rate(before.client_errors, after.client_errors),
        rate(before.server_errors, after.server_errors),
    )


@dataclass
class IngressSampler:
    """Samples the ingress's /metrics in the background; `rates` is the recent history."""

    metrics_url: str
    rates: deque[Rates] = field(default_factory=lambda: deque(maxlen=KEPT_SAMPLES))
    reachable: bool = False
    _last: Totals | None = None
    _totals: deque[Totals] = field(default_factory=lambda: deque(maxlen=KEPT_SAMPLES))

    def last_minute(self) -> Rates | None:
        """The rates over the last minute (or as much of it as was sampled)."""
        if len(self._totals) < 2:
            return None
        latest = self._totals[-1]
        earliest = next((t for t in self._totals if latest.at - t.at <= 60.0), self._totals[0])
        return rates_between(earliest, latest) if earliest is not latest else None

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            while True:
                await self.sample(session)
                await asyncio.sleep(SAMPLE_EVERY_SECONDS)

    async def refresh(self) -> None:
        """Take a sample now (the page being drawn wants the current answer)."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            await self.sample(session)

    async def sample(self, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(self.metrics_url) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError):
            self.reachable = False
            return
        self.reachable = True
        with contextlib.suppress(ValueError):
            totals = totals_of(text, time.time())
            self._totals.append(totals)
            if self._last is not None:
                self.rates.append(rates_between(self._last, totals))
            self._last = totals


@dataclass(frozen=True)
class ProcessState:
    name: str
    url: str
    up: bool
    version: str | None


async def probe(processes: dict[str, str]) -> list[ProcessState]:
    """Whether each process answers its /healthz (or /metrics), and its version."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:

        async def one(name: str, url: str) -> ProcessState:
            try:
                async with session.get(url) as answer:
                    up = answer.status == 200
                    body = await answer.json(content_type=None) if url.endswith("/healthz") else {}
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return ProcessState(name, url, False, None)
            version = body.get("version") if isinstance(body, dict) else None
            return ProcessState(name, url, up, version)

        return list(await asyncio.gather(*(one(n, u) for n, u in processes.items())))
