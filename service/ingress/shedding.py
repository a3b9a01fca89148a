"""Load shedding: past a bound on publishes in flight, the ingress refuses new work at once.

At saturation most of a request's time is spent waiting for its acknowledgement behind the
others' (measured: 80 to 128 of 128 concurrent requests are in that state), so the publishes
awaiting Kafka measure the queue; a request waiting for read-your-writes, or still sending its
body, is not counted, so a burst of slow but cheap requests is not refused.

At saturation a queue in front of Kafka only makes every answer later; refusing the excess with
503 and `Retry-After` keeps the latency of what is accepted short, and partners retry a 503.
A refused request costs almost nothing: it is turned away before its body is read or checked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoadShedding:
    """Publishes awaiting Kafka in one ingress process (`taken`), against `limit` (0: none)."""

    limit: int
    taken: int = 0

    def full(self) -> bool:
        return 0 < self.limit <= self.taken
