"""The CloudEvents binary-mode codec."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridhook.contract.codec import CloudEvent, decode, encode, header
from gridhook.contract.errors import InvalidRecord

_text = st.text(min_size=1, max_size=40)
_events = st.builds(
    CloudEvent,
    id=_text,
    source=_text,
    type=_text,
    time=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1), timezones=st.just(UTC)
    ),
    key=st.binary(max_size=64),
    data=st.binary(max_size=512),
    content_type=st.sampled_from(["application/json", "application/cloudevents+json"]),
    extensions=st.lists(
        st.tuples(
            st.text(min_size=1, max_size=20).filter(
                lambda n: not n.startswith("ce_") and n != "content-type"
            ),
            st.binary(max_size=20),
        ),
        max_size=3,
    ).map(tuple),
)


@given(_events)
def test_decode_inverts_encode(event: CloudEvent) -> None:
    """Any event survives encode then decode unchanged, value bytes included."""
    record = encode(event)
    assert decode(record.key, record.value, record.headers) == event


def test_value_is_the_body_exactly() -> None:
    """The record value is the data bytes as given, never re-serialised."""
    body = b'{"b": 1,   "a": [2]}'
    event = CloudEvent("id", "light", "t", datetime.now(UTC), b"k", body)
    record = encode(event)
    assert record.value is body
    assert header(record.headers, "ce_specversion") == b"1.0"
    assert header(record.headers, "content-type") == b"application/json"


def test_missing_headers_are_an_invalid_record() -> None:
    """A record without CloudEvents headers is rejected, naming what is missing."""
    with pytest.raises(InvalidRecord, match="ce_id"):
        decode(b"k", b"{}", [("ce_specversion", b"1.0")])


def test_record_without_key_is_invalid() -> None:
    """Every gridhook record is keyed."""
    event = encode(CloudEvent("id", "s", "t", datetime.now(UTC), b"k", b"{}"))
    with pytest.raises(InvalidRecord, match="key"):
        decode(None, event.value, event.headers)
