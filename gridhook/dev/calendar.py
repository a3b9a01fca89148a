"""The emulators' shared calendar in development: it runs `GRIDHOOK_EMULATOR_DAY_SECONDS`
times faster than real time while `make run` runs, and stands still while it is stopped, so
that a laptop's stack restarted tomorrow goes on from the day it stopped at, rather than
jumping thousands of emulated days ahead (and making its meters catch up on them).

`gridhook run` gives the emulators the epoch (`GRIDHOOK_EMULATOR_EPOCH`) that continues the
calendar from where the last run left it, kept in `$GRIDHOOK_HOME/dev-calendar.json`.
"""

from __future__ import annotations

from pathlib import Path

import orjson

DAY = 86_400.0
FILE = "dev-calendar.json"


def _speed(day_seconds: float) -> float:
    return DAY / day_seconds


def epoch_continuing(home: Path, day_seconds: float, now: float) -> float:
    """The epoch at which a calendar of `day_seconds` days shows, at real time `now`, the
    calendar time the last run stopped at (`now` itself the first time)."""
    try:
        stopped_at = float(orjson.loads((home / FILE).read_bytes())["calendar"])
    except (FileNotFoundError, KeyError, TypeError, ValueError, orjson.JSONDecodeError):
        return now
    speed = _speed(day_seconds)
    if speed == 1.0 or stopped_at <= now:
        return now
    # calendar(now) = epoch + (now - epoch) * speed = stopped_at
    return (stopped_at - now * speed) / (1.0 - speed)


def remember(home: Path, epoch: float, day_seconds: float, now: float) -> None:
    """Keep the calendar time at real time `now`, for the next run to go on from."""
    calendar = epoch + (now - epoch) * _speed(day_seconds)
    home.mkdir(parents=True, exist_ok=True)
    (home / FILE).write_bytes(orjson.dumps({"calendar": calendar}))
