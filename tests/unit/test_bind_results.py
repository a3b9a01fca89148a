"""What a bind result may say is one list: the schema, the docs and the forwarder agree."""

from __future__ import annotations

from gridhook.contract import schemas
from gridhook.contract.settings import PROJECT_ROOT
from gridhook.state.binds import REASONS, Outcome


def test_the_result_schema_names_every_outcome_and_reason() -> None:
    schema = schemas.load("powerbox/bind-result.json")
    assert schema["properties"]["outcome"]["enum"] == list(Outcome)
    reasons = set(schema["properties"]["reason"]["enum"]) - {None}
    assert reasons == set(REASONS)


def test_the_docs_explain_every_reason() -> None:
    """Each reason code has a row in the bind path's table, with its meaning."""
    readme = (PROJECT_ROOT / "docs" / "bind-path.md").read_text()
    missing = [
        code for code, meaning in REASONS.items() if f"| `{code}` | {meaning} |" not in readme
    ]
    assert missing == []
