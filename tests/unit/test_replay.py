"""Replay's pure parts: time and offset selectors, and what a re-driven record carries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord

from gridhook.contract.codec import (
    FIRST_PUBLISHED_AT,
    REPLAYED_FROM,
    Position,
    first_position,
    header,
)
from gridhook.contract.errors import ConfigError
from gridhook.kafka.replay import Selection, parse_moment, parse_offsets, redirected

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2h", datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
        ("30m", datetime(2026, 11, 22, 11, 30, tzinfo=UTC)),
        ("7d", datetime(2026, 11, 15, 12, 0, tzinfo=UTC)),
        ("2026-11-20T08:00:00Z", datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
        ("2026-11-20T08:00:00+01:00", datetime(2026, 11, 20, 7, 0, tzinfo=UTC)),
    ],
)
def test_times_are_rfc3339_or_relative(raw: str, expected: datetime) -> None:
    assert parse_moment(raw, NOW) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2x", "-2h", ""])
def test_bad_times_are_a_clear_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="not a time"):
        parse_moment(raw, NOW)


def test_offsets_for_all_or_some_partitions() -> None:
    assert parse_offsets("1200") == {None: 1200}
    assert parse_offsets("0:1200, 3:50") == {0: 1200, 3: 50}
    with pytest.raises(ConfigError):
        parse_offsets("0:abc")
    with pytest.raises(ConfigError):
        parse_offsets("-5")


def test_inconsistent_selections_are_refused() -> None:
    with pytest.raises(ConfigError, match="--since is after --until"):
        Selection(since=NOW, until=datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ConfigError, match="--limit"):
        Selection(limit=0)


def record(topic: str, headers: list[tuple[str, bytes]]) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topic,
        partition=2,
        offset=41,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=b"v",
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=1,
        headers=headers,
    )


def test_replayed_record_keeps_everything_and_names_its_origin() -> None:
    """Same key, value and headers; an earlier origin header is replaced, not stacked."""
    source = record("light.events", [("ce_id", b"1"), (REPLAYED_FROM, b"old/0/0")])
    destination, encoded = redirected(source, from_dlq=False, to_topic=None)
    assert destination == "light.events"
    assert (encoded.key, encoded.value) == (b"k", b"v")
    assert encoded.headers == [
        ("ce_id", b"1"),
        (REPLAYED_FROM, b"light.events/2/41"),
        (FIRST_PUBLISHED_AT, b"light.events/2/41"),
    ]
    _, again = redirected(record("light.events", encoded.headers), False, None)
    assert header(again.headers, FIRST_PUBLISHED_AT) == b"light.events/2/41", "set once"


def test_dead_letter_goes_back_to_its_origin_without_dlq_headers() -> None:
    source = record(
        "light.events.dlq",
        [("ce_id", b"1"), ("dlq_topic", b"light.events"), ("dlq_error_class", b"X")],
    )
    destination, encoded = redirected(source, from_dlq=True, to_topic=None)
    assert destination == "light.events"
    assert encoded.headers[:2] == [("ce_id", b"1"), (REPLAYED_FROM, b"light.events.dlq/2/41")]


def test_a_re_driven_dead_letter_is_first_published_where_it_came_from() -> None:
    """Consumers order a re-driven record by its origin, not by the DLQ or its new offset."""
    source = record(
        "light.events.dlq",
        [
            ("ce_id", b"1"),
            ("dlq_topic", b"light.events"),
            ("dlq_partition", b"3"),
            ("dlq_offset", b"17"),
        ],
    )
    _, encoded = redirected(source, from_dlq=True, to_topic=None)
    assert header(encoded.headers, FIRST_PUBLISHED_AT) == b"light.events/3/17"
    origin = first_position(Position("light.events", 3, 900), encoded.headers)
    assert origin == Position("light.events", 3, 17)
    assert first_position(Position("light.events", 3, 900), []) == Position("light.events", 3, 900)
