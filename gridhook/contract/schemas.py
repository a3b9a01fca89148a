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
