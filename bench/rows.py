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


# What bounds each target when a run does not meet it (bench/README.md has the profiles and
# the levers measured).
INGRESS_CPU = (
    "gridhook's own Python per request (signature, schema, deduplication, tenant, metrics, "
    "CloudEvents headers) on top of the bare handler's aiohttp and aiokafka work; "
    "bench/README.md, Ingress"
)
SHARED_CORES = (
    "the broker, the load generator and the ingress share two cores: the same server's p99 "
    "moves several-fold between runs; bench/README.md, Ingress and Tenants"
)
OVERLOAD_CORES = (
    "at twice the rate the load generator and the broker take most of one of the two cores, "
    "and the ingress accepts what its CPU per request allows in the rest; bench/README.md, "
    "Overload"
)
APPLIER_FACTS = (
    "Python per fact: about 10 facts an event, each built, merged and serialised in turn; two "
    "processes share the partitions, and on SQLite one writer, on PostgreSQL two cores with "
    "the database; bench/README.md, State applier"
)
MONTH_ROWS = (
    "Python building a row, a slot and a JSON object per interval and source; bench/README.md, "
    "A month read back"
)
REPLAY_PRODUCE = (
    "a produce() call per record (each gains its own replay headers) on top of the dry run's "
    "reading; bench/README.md, Replay"
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
