"""What the console's pages read from a query string or a form: the topics an operator may
name, a record filter, a page number and the pager's links."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from multidict import MultiDictProxy

from gridhook.contract import topics
from gridhook.kafka import browsing
from gridhook.kafka.replay import parse_moment

FormData = MultiDictProxy[Any]


def topic_names() -> list[str]:
    """The topics of the catalogue."""
    return [topic.name for topic in topics.CATALOGUE]


def dead_letter_names() -> list[str]:
    """Their dead-letter topics."""
    return [topic.name for topic in topics.dead_letter_topics()]


def record_filter(query: Any) -> browsing.Filter:
    """The filter of a form or query string; `ConfigError` for a time that is not one."""

    def moment(name: str) -> datetime | None:
        raw = str(query.get(name, "")).strip()
        return parse_moment(raw) if raw else None

    return browsing.Filter(
        since=moment("since"),
        until=moment("until"),
        key=str(query.get("key", "")).strip(),
        type_glob=str(query.get("type", "")).strip(),
        event_id=str(query.get("id", "")).strip(),
    )


def page_number(query: Any) -> int:
    try:
        return max(int(query.get("page", 0)), 0)
    except ValueError:
        return 0


def pager(query: Any) -> str:
    """The query string of this page without its page number, for the pager's links."""
    return urlencode({name: value for name, value in query.items() if name != "page" and value})
