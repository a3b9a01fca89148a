"""WattShift state: the latest price signal of each home, and the price in force now (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridhook.contract.codec import parse_time


def current_interval(signal: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The interval of `signal` that contains `now` (start inclusive, end exclusive), or None
    when none does."""
    for interval in signal.get("data") or []:
        try:
            if parse_time(interval["startTime"]) <= now < parse_time(interval["endTime"]):
                return dict(interval)
        except (KeyError, TypeError, ValueError):
            continue
    return None
