"""A partner's calendar running faster than real time, so that a 7-day wait or a plan that
expires after 5 business days can be watched in seconds.

Days last `day_seconds` real seconds (86400: real time) from `epoch`, the real time the
emulator first started (kept in its state, so the calendar goes on across restarts). Everything
the emulator says is in this calendar: the `Date` header of its answers, the times in its bodies
and webhooks, the dates it checks. Token lifetimes stay in real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

DAY = 86_400.0


class ScaledCalendar:
    """Real time to the partner's time and back."""

    def __init__(
        self, epoch: float, day_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._epoch = epoch
        self._speed = DAY / day_seconds
        self._clock = clock

    def timestamp(self) -> float:
        """The partner's now, as a Unix time."""
        return self._epoch + (self._clock() - self._epoch) * self._speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def today(self) -> date:
        return self.now().date()

    def real_time_of(self, moment: datetime) -> float:
        """The real Unix time at which the partner's clock shows `moment`."""
        return self._epoch + (moment.timestamp() - self._epoch) / self._speed


def start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def add_business_days(moment: datetime, days: int) -> datetime:
    """`moment` moved forward by `days` weekdays (Saturday and Sunday do not count)."""
    result = moment
    while days > 0:
        result += timedelta(days=1)
        if result.weekday() < 5:
            days -= 1
    return result
