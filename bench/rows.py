"""A row of the benchmark table: a figure, its target, whether this run met it and, when it did
not, what bounds it; and the table drawn from rows, each bound said once, below it."""

from __future__ import annotations

import textwrap
from typing import NamedTuple


class Row(NamedTuple):
    """One line of the table. `met` is None for a figure without a target; `bound` says, for a
    target not met, what bounds the figure by the profiles in bench/README.md."""

    benchmark: str
    result: str
    target: str = ""
    met: bool | None = None
    bound: str = ""


# What bounds each target when a run does not meet it, and the levers measured (bench/README.md
# has the profiles and the figures of each).
INGRESS_CPU = (
    "bound: gridhook's own Python per request, its steps (their rows) and the coroutines "
    "between them, on top of the bare handler's aiohttp and aiokafka work. Measured: the "
    "collector tuned and a one-shot HMAC (kept), the shedding front's extra parse (within "
    "the noise), no compression and confluent-kafka (their rows; its AIOProducer refuses "
    "headers); fixed-path routes served without aiohttp's routing (kept, 4-5 us a "
    "request); a compiled core not built (the steps it would replace are about 17 us, the "
    "HMAC already in C). bench/README.md, Ingress"
)
SHARED_CORES = (
    "bound: the broker, the load generator and the ingress share two cores, and the same "
    "server's p99 moves several-fold between runs; the collector is not the tail (no full "
    "collection under load). bench/README.md, Ingress and Tenants"
)
OVERLOAD_CORES = (
    "bound: at twice the rate the load generator and the broker take most of one of the two "
    "cores, and the ingress accepts what its CPU per request allows in the rest. Measured: "
    "refusing ahead of aiohttp (kept), a bound of 64 (shorter queue, same goodput), an "
    "adaptive bound (not kept). bench/README.md, Overload"
)
APPLIER_FACTS = (
    "bound: Python per fact, about 10 facts an event built, merged and serialised in turn. "
    "Measured: statements straight to the driver, the collector tuned and COPY on "
    "PostgreSQL (kept), two processes (their rows), statements over arrays on PostgreSQL "
    "(not kept), one fact per location and per checklist (+11% in-process; not kept: it "
    "changes what the store holds). bench/README.md, State applier"
)
MEMORY = (
    "bound: an idle ingress holds 83-87 MB, its imports and the shared libraries' pages "
    "mapped from files (25-30 MB of it, the more the more of them the page cache holds, as "
    "just after an install); under load the 100,000 remembered webhook ids (8.8 MB) and the "
    "requests in flight come on top. Measured and kept: cryptography, PyJWT, "
    "OpenTelemetry's SDK and the PostgreSQL dialect imported where used; the ids as ints in "
    "generations of sets. bench/README.md, Memory"
)
MONTH_ROWS = (
    "bound: Python building a row, a slot and a JSON object per interval and source. "
    "bench/README.md, A month read back"
)
REPLAY_PRODUCE = (
    "bound: a produce() call per record (each gains its own replay headers) on top of the dry "
    "run's reading. Measured: librdkafka against aiokafka (their rows), failure-only "
    "reports, the collector tuned (kept); no coroutine per record (not kept); produce_batch "
    "carries no headers. bench/README.md, Replay"
)


def draw(rows: list[Row]) -> str:
    """The rows as a plain-text table: benchmark, result, target and whether it was met, with
    a numbered note below for what bounds each target not met."""
    bounds: list[str] = []

    def verdict(row: Row) -> str:
        if row.met is None:
            return ""
        if row.met or not row.bound:
            return "yes" if row.met else "no"
        if row.bound not in bounds:
            bounds.append(row.bound)
        return f"no [{bounds.index(row.bound) + 1}]"

    cells = [(row.benchmark, row.result, row.target, verdict(row)) for row in rows]
    width = max(len(cell[0]) for cell in cells)
    value_width = max(len(cell[1]) for cell in cells)
    target_width = max(len("target"), *(len(cell[2]) for cell in cells))
    header = f"{'benchmark':{width}}  {'result':{value_width}}  {'target':{target_width}}  met"
    drawn = [header, "-" * len(header)]
    drawn += [
        f"{name:{width}}  {value:{value_width}}  {target:{target_width}}  {met}".rstrip()
        for name, value, target, met in cells
    ]
    if bounds:
        drawn.append("")
        drawn += [
            textwrap.fill(f"[{n}] {bound}", width=100, subsequent_indent="    ")
            for n, bound in enumerate(bounds, 1)
        ]
    return "\n".join(drawn)
