"""The contract check `make lint` runs: a schema change that would break a subscriber fails,
naming the file and the rule; a compatible one passes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gridhook.cli import main
from gridhook.contract.compatibility import (
    BreakingChange,
    Contract,
    breaking_changes,
    current_contract,
    load_snapshot,
    write_snapshot,
)

BIND = "powerbox/bind-request.json"
RESULT = "powerbox/bind-result.json"


def changed(edit: Any) -> tuple[Contract, Contract]:
    """The tree's contract, and a copy with `edit` applied to its schemas."""
    released = current_contract()
    current = copy.deepcopy(released)
    edit(current)
    return released, current


def test_the_tree_is_compatible_with_the_released_contract() -> None:
    """schemas/ keeps every promise of the snapshot in docs/contract/released.json."""
    assert breaking_changes(load_snapshot(), current_contract()) == []


def test_removing_a_required_field_names_the_file_and_the_rule() -> None:
    """A field of the release taken out of a copy of its schema is `field removed`."""

    def remove(contract: Contract) -> None:
        schema = contract["schemas"][BIND]
        del schema["properties"]["meterId"]
        schema["required"].remove("meterId")

    assert breaking_changes(*changed(remove)) == [BreakingChange(BIND, "field removed", "/meterId")]


def test_adding_an_optional_field_passes() -> None:
    """A new optional property breaks nobody."""

    def add(contract: Contract) -> None:
        contract["schemas"][BIND]["properties"]["note"] = {"type": "string"}

    assert breaking_changes(*changed(add)) == []


def test_each_breaking_rule_is_named() -> None:
    """A required field added, a type narrowed, an enum value removed, a key changed, a
    schema removed: each is reported with its rule."""

    def edit(contract: Contract) -> None:
        bind = contract["schemas"][BIND]
        bind["properties"]["region"] = {"type": "string"}
        bind["required"].append("region")
        result = contract["schemas"][RESULT]["properties"]
        result["hemProfileId"]["type"] = "string"
        result["outcome"]["enum"].remove("rejected")
        contract["topics"]["powerbox.bind.requests"] = "hemProfileId"
        del contract["schemas"]["light/usage.json"]

    rules = {(change.file, change.rule) for change in breaking_changes(*changed(edit))}
    assert rules == {
        (BIND, "required field added"),
        (RESULT, "type narrowed"),
        (RESULT, "enum value removed"),
        ("powerbox.bind.requests", "topic key changed"),
        ("light/usage.json", "schema removed"),
    }


def test_a_new_version_beside_the_old_one_passes() -> None:
    """`...v2` with a new required field ships beside v1, which stays as released."""

    def add_v2(contract: Contract) -> None:
        v2 = copy.deepcopy(contract["schemas"][BIND])
        v2["properties"]["region"] = {"type": "string"}
        v2["required"].append("region")
        contract["schemas"]["powerbox/bind-request.v2.json"] = v2

    assert breaking_changes(*changed(add_v2)) == []


def test_the_command_fails_naming_the_file_and_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gridhook contract check` against a release that had a field the tree lacks exits 1
    with `<file>: field removed: <where>`; against the tree itself it passes."""
    released = current_contract()
    released["schemas"][BIND]["properties"]["legacyField"] = {"type": "string"}
    released["schemas"][BIND]["required"].append("legacyField")
    snapshot = tmp_path / "released.json"
    write_snapshot(snapshot, released)
    assert main(["contract", "check", "--snapshot", str(snapshot)]) == 1
    assert f"{BIND}: field removed: /legacyField" in capsys.readouterr().err
    assert main(["contract", "snapshot", "--snapshot", str(snapshot)]) == 0
    assert main(["contract", "check", "--snapshot", str(snapshot)]) == 0
