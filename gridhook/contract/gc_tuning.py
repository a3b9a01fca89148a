"""The garbage collector tuned for a long-running server process.

Every request allocates a few hundred container objects (futures, dicts, requests, records)
that reference counting frees; the cyclic collector's default gen-0 threshold (700) still runs
a collection every couple of requests, and each older-generation collection walks the tens of
thousands of objects the imports and the application made at start-up. Measured on the
ingress at saturation: about a quarter of its CPU per request (bench/README.md). So, once the
process is built: collect, `gc.freeze()` what exists (it is never garbage: modules, schemas, the
app), and collect the young generation ten times less often. Cyclic garbage still goes, a
little later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def tune_garbage_collector() -> None:
    """Freeze what exists now out of the collector's sight and collect less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
