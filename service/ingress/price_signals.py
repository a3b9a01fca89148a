"""What a JSON Schema cannot say about a WattShift price signal, checked at the ingress (pure).

Each interval starts before it ends; the intervals are in order and do not overlap; and all lie
within the signal's own `startTime`/`endTime`. A violation is a 422 naming the pointer of the
interval (and field) at fault, never its value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridhook.contract.codec import parse_time
from gridhook.contract.errors import SchemaViolation, Violation


def check_intervals(document: Any) -> None:
    """Raise `SchemaViolation` listing what is wrong with the signal's intervals."""
    signal = document["data"]
    violations: list[Violation] = []
    start = _time(signal["startTime"], "/data/startTime", violations)
    end = _time(signal["endTime"], "/data/endTime", violations)
    if start and end and not start < end:
        violations.append(Violation("/data/endTime", "must be after startTime"))
    previous_end: datetime | None = None
    for index, interval in enumerate(signal["data"]):
        where = f"/data/data/{index}"
        low = _time(interval["startTime"], where + "/startTime", violations)
        high = _time(interval["endTime"], where + "/endTime", violations)
        if low is None or high is None:
            continue
        if not low < high:
            violations.append(Violation(where + "/endTime", "must be after its startTime"))
        if previous_end is not None and low < previous_end:
            violations.append(
                Violation(where + "/startTime", "overlaps or precedes the interval before it")
            )
        if start is not None and low < start:
            violations.append(Violation(where + "/startTime", "is before the signal's startTime"))
        if end is not None and high > end:
            violations.append(Violation(where + "/endTime", "is after the signal's endTime"))
        previous_end = high
    if violations:
        raise SchemaViolation(tuple(violations))


def _time(raw: str, pointer: str, violations: list[Violation]) -> datetime | None:
    try:
        return parse_time(raw)
    except ValueError:
        violations.append(Violation(pointer, "is not a valid date-time"))
        return None
