"""Identifiers gridhook derives, shared by the ingress and the consumers."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

_HEM_PROFILE_NAMESPACE = uuid.UUID("6f0e7a52-3b9d-5c1e-9a47-2d8c51f0b6e3")


def hem_profile_id(client_id: str) -> str:
    """The stable GUID binds use to refer to a PowerBox customer (UUIDv5 of its clientId)."""
    return str(uuid.uuid5(_HEM_PROFILE_NAMESPACE, client_id))


def content_hash(document: Any) -> str:
    """The hash of a JSON document's canonical form (keys sorted): equal content, equal hash."""
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]
