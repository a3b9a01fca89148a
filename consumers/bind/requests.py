"""Bind requests as the forwarder sees them, and the records that carried them.

The forwarder keeps each admitted request's original record (key, value, headers, origin), so
that it can resume the request after a restart and dead-letter it with its origin if it fails.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from consumers.runtime import InboundRecord
from gridhook.contract.codec import CloudEvent, decode
from gridhook.contract.errors import InvalidBindRequest
from gridhook.state.bind_rules import BIND, UNBIND

_ACTIONS = {1: BIND, 0: UNBIND}


@dataclass(frozen=True)
class BindRequest:
    """One accepted PowerBox bind or unbind; `bind_id` is its CloudEvents id."""

    bind_id: str
    meter_id: str
    action: str
    mac: str
    install_code: str
    hem_profile_id: str | None

    @classmethod
    def parse(cls, event: CloudEvent) -> BindRequest:
        """The request an event carries; `InvalidBindRequest` when a field is missing."""
        try:
            body = orjson.loads(event.data)
            return cls(
                bind_id=event.id,
                meter_id=str(body["meterId"]),
                action=_ACTIONS[body["actionCode"]],
                mac=str(body["macAddress"]),
                install_code=str(body["installCode"]),
                hem_profile_id=body.get("hemProfileId"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            raise InvalidBindRequest(
                f"bind request lacks a field: {type(error).__name__}"
            ) from None

    @classmethod
    def of_record(cls, record: InboundRecord) -> BindRequest:
        """The request a `powerbox.bind.requests` record carries."""
        return cls.parse(decode(record.key, record.value, record.headers))


def record_to_json(record: InboundRecord) -> dict[str, Any]:
    """`record` as JSON, bytes in base64, for the forwarder's table."""

    def b64(raw: bytes | None) -> str | None:
        return None if raw is None else base64.b64encode(raw).decode()

    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": b64(record.key),
        "value": b64(record.value),
        "headers": [[name, b64(value)] for name, value in record.headers],
        "timestamp_ms": record.timestamp_ms,
    }


def record_from_json(raw: dict[str, Any]) -> InboundRecord:
    """The inverse of `record_to_json`."""

    def unb64(text: str | None) -> bytes | None:
        return None if text is None else base64.b64decode(text)

    return InboundRecord(
        topic=raw["topic"],
        partition=raw["partition"],
        offset=raw["offset"],
        key=unb64(raw["key"]),
        value=unb64(raw["value"]),
        headers=tuple((name, unb64(value) or b"") for name, value in raw["headers"]),
        timestamp_ms=raw["timestamp_ms"],
    )
