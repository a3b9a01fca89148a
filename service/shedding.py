"""Load shedding: past a bound on requests in flight, the ingress refuses new work at once.

Every webhook request in flight is on its way to a publish; counting from its arrival (not only
while Kafka has it) also bounds the work queued for the CPU, which is what saturates first.

At saturation a queue in front of Kafka only makes every answer later; refusing the excess with
503 and `Retry-After` keeps the latency of what is accepted short, and partners retry a 503.
A refused request costs almost nothing: it is turned away before its body is read or checked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoadShedding:
    """Webhook requests in flight in one ingress process (`taken`), against `limit` (0: none)."""

    limit: int
    taken: int = 0

    def full(self) -> bool:
        return 0 < self.limit <= self.taken
