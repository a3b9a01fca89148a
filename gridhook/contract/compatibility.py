"""Whether the contract subscribers read (the event schemas and the topics' keys) still
accepts everything the released one promised. Pure: the caller loads both contracts.

A contract is `{"schemas": {path: schema}, "topics": {name: key}}`; the released one is a
snapshot kept in the repo (`docs/contract/released.json`, refreshed by `gridhook contract
snapshot` on a release). `breaking_changes` names every change that would break a subscriber:

- `schema removed`: an event schema of the release is gone (ship `...v2` beside it instead);
- `required field added`: a body gains a required field (old producers' records lack it);
- `field removed`: a property the release named is gone;
- `type narrowed`: a property accepts fewer JSON types than before;
- `enum value removed`: an enum or const no longer allows a value it allowed;
- `topic key changed`: a topic's partition key names another field; `topic removed`.

Adding an optional field, an enum value, a type, a schema or a topic is compatible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson

from gridhook.contract import schemas
from gridhook.contract.settings import PROJECT_ROOT
from gridhook.contract.topics import all_topics

Contract = dict[str, Any]
SNAPSHOT = PROJECT_ROOT / "docs" / "contract" / "released.json"


@dataclass(frozen=True)
class BreakingChange:
    """One change that would break a subscriber: the schema file, the rule, where in it."""

    file: str
    rule: str
    where: str


def current_contract() -> Contract:
    """The contract in the tree: its release, every event schema (references inlined) and
    topic key."""
    paths = sorted({p for t in all_topics() for m in t.messages for p in schemas.matching(m)})
    return {
        "release": version("gridhook"),
        "schemas": {path: schemas.dereferenced(path) for path in paths},
        "topics": {topic.name: topic.key for topic in all_topics()},
    }


def load_snapshot(path: Path = SNAPSHOT) -> Contract:
    """The released contract at `path`."""
    contract: Contract = orjson.loads(path.read_bytes())
    return contract


def write_snapshot(path: Path, contract: Contract) -> None:
    """Record `contract` as the released one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    path.write_bytes(orjson.dumps(contract, option=options) + b"\n")


def breaking_changes(released: Contract, current: Contract) -> list[BreakingChange]:
    """Every change from `released` to `current` that would break a subscriber."""
    found: list[BreakingChange] = []
    for path, before in released["schemas"].items():
        after = current["schemas"].get(path)
        if after is None:
            found.append(BreakingChange(path, "schema removed", "/"))
        else:
            found += [BreakingChange(path, rule, where) for rule, where in _compare(before, after)]
    for topic, key in released["topics"].items():
        now = current["topics"].get(topic)
        if now is None:
            found.append(BreakingChange(topic, "topic removed", "/"))
        elif now != key:
            found.append(BreakingChange(topic, "topic key changed", f"{key!r} -> {now!r}"))
    return found


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    types = {kind} if isinstance(kind, str) else set(kind)
    return types | {"integer"} if "number" in types else types


def _allowed(schema: dict[str, Any]) -> set[str] | None:
    if "const" in schema:
        return {orjson.dumps(schema["const"]).decode()}
    if "enum" in schema:
        return {orjson.dumps(value).decode() for value in schema["enum"]}
    return None


def _compare(
    before: dict[str, Any], after: dict[str, Any], where: str = ""
) -> Iterator[tuple[str, str]]:
    before, after = schemas.merged(before), schemas.merged(after)
    old_types, new_types = _types(before), _types(after)
    if old_types is not None and new_types is not None and not old_types <= new_types:
        lost = sorted(old_types - new_types)
        yield "type narrowed", f"{where or '/'} no longer accepts {', '.join(lost)}"
    old_values, new_values = _allowed(before), _allowed(after)
    if old_values is not None:
        lost_values = sorted(old_values - (new_values if new_values is not None else old_values))
        if lost_values:
            yield "enum value removed", f"{where or '/'}: {', '.join(lost_values)}"
    old_properties = before.get("properties", {})
    new_properties = after.get("properties", {})
    for name in sorted(set(after.get("required", [])) - set(before.get("required", []))):
        yield "required field added", f"{where}/{name}"
    for name, sub in old_properties.items():
        if name not in new_properties:
            yield "field removed", f"{where}/{name}"
        else:
            yield from _compare(sub, new_properties[name], f"{where}/{name}")
    if "items" in before and "items" in after:
        yield from _compare(before["items"], after["items"], f"{where}/items")
