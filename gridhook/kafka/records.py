"""A record read from Kafka, as every handler sees it, whatever client read it.

`InboundRecord` carries what a consumer needs of a record (where it was read, its key, value,
headers and timestamp) and nothing of aiokafka, so handlers, the state layer and tests depend
on this boundary alone. Its JSON form (bytes in base64) lets a consumer keep the record it is
working on in the store, to resume or dead-letter it after a restart.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord


@dataclass(frozen=True)
class InboundRecord:
    """A record read from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    @classmethod
    def of(cls, record: ConsumerRecord) -> InboundRecord:
        """The record aiokafka read."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple(record.headers),
            timestamp_ms=record.timestamp,
        )

    def to_json(self) -> dict[str, Any]:
        """This record as JSON, bytes in base64."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": _b64(self.key),
            "value": _b64(self.value),
            "headers": [[name, _b64(value)] for name, value in self.headers],
            "timestamp_ms": self.timestamp_ms,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> InboundRecord:
        """The inverse of `to_json`."""
        return cls(
            topic=raw["topic"],
            partition=raw["partition"],
            offset=raw["offset"],
            key=_unb64(raw["key"]),
            value=_unb64(raw["value"]),
            headers=tuple((name, _unb64(value) or b"") for name, value in raw["headers"]),
            timestamp_ms=raw["timestamp_ms"],
        )


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
