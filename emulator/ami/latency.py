"""How long a HAN join takes in the emulator: a pure function of a random source.

Real Zigbee Smart Energy joins through a utility's AMI mesh take about 15 minutes, some up to
48 hours. `realistic_join_seconds` draws from that shape: 85% log-normal around 5 minutes,
within 30 s to 15 min; 15% log-uniform from 15 minutes to 48 hours.
"""

from __future__ import annotations

import math
import random

FIFTEEN_MINUTES = 15 * 60.0
FORTY_EIGHT_HOURS = 48 * 3600.0
_TAIL_SHARE = 0.15


def realistic_join_seconds(rng: random.Random) -> float:
    """One join latency, in seconds of real time."""
    if rng.random() >= _TAIL_SHARE:
        return min(FIFTEEN_MINUTES, max(30.0, rng.lognormvariate(math.log(300.0), 0.45)))
    low, high = math.log(FIFTEEN_MINUTES), math.log(FORTY_EIGHT_HOURS)
    return math.exp(rng.uniform(low, high))


def join_delay(rng: random.Random, join_seconds: tuple[float, float] | None, scale: float) -> float:
    """Seconds of wall time a join takes: the realistic distribution (None) or a uniform
    `(min, max)`, run `scale` times faster than real time."""
    seconds = realistic_join_seconds(rng) if join_seconds is None else rng.uniform(*join_seconds)
    return seconds / scale
