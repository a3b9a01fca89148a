"""The JSON Schemas under `schemas/`, loaded once and resolvable by their `$id`.

Schemas refer to each other with relative `$ref`s against their `$id`s; `registry()` knows them
all, so validators and the AsyncAPI generator resolve references without any network access.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema_rs
import orjson

from gridhook.contract.settings import SCHEMAS_DIR

Schema = dict[str, Any]


@functools.cache
def load(relative_path: str) -> Schema:
    """The schema at `schemas/<relative_path>`."""
    schema: Schema = orjson.loads((SCHEMAS_DIR / relative_path).read_bytes())
    return schema


def matching(pattern: str) -> list[str]:
    """Paths under `schemas/`, relative and sorted, matching the glob `pattern`."""
    return sorted(path.relative_to(SCHEMAS_DIR).as_posix() for path in SCHEMAS_DIR.glob(pattern))


def every_path() -> list[str]:
    """Every schema file under `schemas/`."""
    return matching("**/*.json")


@functools.cache
def registry() -> jsonschema_rs.Registry:
    """A registry of every schema, keyed by its `$id`."""
    return jsonschema_rs.Registry([(load(path)["$id"], load(path)) for path in every_path()])


def validator(relative_path: str) -> jsonschema_rs.Validator:
    """A compiled validator for one schema, its references resolved through `registry()`."""
    return jsonschema_rs.validator_for(load(relative_path), registry=registry(), offline=True)


def dereferenced(relative_path: str) -> Schema:
    """The schema with every `$ref` inlined (for documents that must stand alone)."""
    inlined: Schema = jsonschema_rs.dereference(load(relative_path), registry=registry())
    return inlined


def merged(schema: Schema) -> Schema:
    """`schema` with its `allOf` parts folded in: their properties merged (recursively) and
    their `required` joined, as the body a subscriber reads looks."""
    if "allOf" not in schema:
        return schema
    result: Schema = {key: value for key, value in schema.items() if key != "allOf"}
    for part in schema["allOf"]:
        result = _merge(merged(part), result)
    return result


def _merge(base: Schema, over: Schema) -> Schema:
    result = {**base, **{k: v for k, v in over.items() if k not in ("properties", "required")}}
    properties = dict(base.get("properties", {}))
    for name, sub in over.get("properties", {}).items():
        known = properties.get(name)
        properties[name] = sub if known is None else _merge(merged(known), merged(sub))
    if properties:
        result["properties"] = properties
    required = list(dict.fromkeys([*base.get("required", []), *over.get("required", [])]))
    if required:
        result["required"] = required
    return result
