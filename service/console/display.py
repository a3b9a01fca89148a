"""How the console writes what it shows: one time format everywhere (ISO 8601, UTC, to the
second), as a Jinja filter."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: object) -> str:
    """`moment` (a datetime, Unix seconds, or an RFC 3339 text) as `2026-12-06T18:00:00Z`;
    an empty text for nothing."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, int | float):
        moment = datetime.fromtimestamp(moment, UTC)
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if not isinstance(moment, datetime):
        return str(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
