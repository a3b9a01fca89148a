"""The health page's numbers over time: the ingress's request and error rates, sampled from
its `/metrics` every few seconds, and drawn as small SVG charts (pure functions)."""

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


def sparkline(values: list[float], width: int = 240, height: int = 40) -> str:
    """An inline SVG polyline of `values` (oldest first), scaled to its maximum."""
    if not values:
        return f'<svg class="spark" width="{width}" height="{height}" role="img"></svg>'
    top = max(values) or 1.0
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (height - 4) * value / top:.1f}"
        for i, value in enumerate(values)
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img"><polyline fill="none" stroke="currentColor" stroke-width="1.5" '
        f'points="{points}"/></svg>'
    )


@dataclass
class IngressSampler:
    """Samples the ingress's /metrics in the background; `rates` is the recent history."""

    metrics_url: str
    rates: deque[Rates] = field(default_factory=lambda: deque(maxlen=KEPT_SAMPLES))
    reachable: bool = False
    _last: Totals | None = None

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
            if self._last is not None:
                self.rates.append(rates_between(self._last, totals))
            self._last = totals
