"""Schema validation of parsed request bodies: pure functions over compiled validators.

Violations are reported as RFC 6901 JSON pointers with a description built from the failed
keyword only, never from the offending value, so a 422 never echoes what the client sent
(which may be personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from gridhook.contract import schemas
from gridhook.contract.errors import MalformedJson, SchemaViolation, Violation

MAX_VIOLATIONS = 20
MAX_DEPTH = 64
"""The deepest nesting of arrays and objects gridhook reads; partners' bodies nest under 10."""


def check_depth(body: bytes, document: Any) -> None:
    """`MalformedJson` when `document` nests arrays and objects deeper than `MAX_DEPTH`.

    Counting brackets in the raw body bounds the depth from above, so the walk over the parsed
    document runs only for bodies with that many brackets.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise MalformedJson(f"the body nests deeper than {MAX_DEPTH} levels")
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)


def _pointer(path: list[str | int]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _violation(error: jsonschema_rs.ValidationError) -> Violation:
    kind: Any = error.kind
    path = list(error.instance_path)
    name = kind.name
    if name == "required":
        return Violation(_pointer([*path, str(kind.property)]), "is required")
    if name == "type":
        return Violation(_pointer(path), "must be of type " + " or ".join(map(str, kind.types)))
    if name == "pattern":
        return Violation(_pointer(path), "does not match the expected format")
    if name in ("constant", "enum"):
        return Violation(_pointer(path), "is not an allowed value")
    return Violation(_pointer(path), f"fails the {name} constraint")


def violations_of(validator: jsonschema_rs.Validator, document: Any) -> tuple[Violation, ...]:
    """Every violation of `validator` by `document`, deduplicated, at most `MAX_VIOLATIONS`."""
    found: dict[Violation, None] = {}
    try:
        for error in validator.iter_errors(document):
            found[_violation(error)] = None
            if len(found) >= MAX_VIOLATIONS:
                break
    except (ValueError, RecursionError):
        return _UNVALIDATABLE
    return tuple(found) or _UNVALIDATABLE


@dataclass(frozen=True)
class Checked:
    """A document that passed validation, with its event type and whether that type is known."""

    event_type: str
    known: bool


class TypedSchemas:
    """An envelope schema plus one schema per known event type, compiled once.

    `type_field` names the envelope field holding the event type. A type without a schema is
    accepted when the envelope is valid (partners add types), and reported as not known.
    """

    def __init__(self, envelope: str, by_type: Mapping[str, str], type_field: str) -> None:
        self._envelope = schemas.validator(envelope)
        self._by_type = {name: schemas.validator(path) for name, path in by_type.items()}
        self._type_field = type_field

    def check(self, document: Any) -> Checked:
        """Validate `document`; raise `SchemaViolation` listing what is wrong."""
        event_type = document.get(self._type_field) if isinstance(document, dict) else None
        specific = self._by_type.get(event_type) if isinstance(event_type, str) else None
        validator = specific or self._envelope
        if _valid(validator, document):
            return Checked(event_type=str(event_type), known=specific is not None)
        raise SchemaViolation(violations_of(validator, document))


class SingleSchema:
    """One schema for every document of a route; the event type is fixed."""

    def __init__(self, path: str, event_type: str) -> None:
        self._validator = schemas.validator(path)
        self.event_type = event_type

    def check(self, document: Any) -> Checked:
        """Validate `document`; raise `SchemaViolation` listing what is wrong."""
        if _valid(self._validator, document):
            return Checked(event_type=self.event_type, known=True)
        raise SchemaViolation(violations_of(self._validator, document))


_UNVALIDATABLE = (Violation("", "cannot be validated"),)


def _valid(validator: jsonschema_rs.Validator, document: Any) -> bool:
    """Whether `document` is valid; a document the validator fails on is a violation (a 4xx),
    never a 500."""
    try:
        return bool(validator.is_valid(document))
    except (ValueError, RecursionError):
        raise SchemaViolation(_UNVALIDATABLE) from None
