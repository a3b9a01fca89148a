"""What a bind result may say is one list: the schema, the README and the forwarder agree."""

from __future__ import annotations

from gridhook.contract import bind_results, schemas
from gridhook.contract.settings import PROJECT_ROOT


def test_the_result_schema_names_every_outcome_and_reason() -> None:
    schema = schemas.load("powerbox/bind-result.json")
    assert schema["properties"]["outcome"]["enum"] == list(bind_results.OUTCOMES)
    reasons = set(schema["properties"]["reason"]["enum"]) - {None}
    assert reasons == set(bind_results.REASONS)


def test_the_readme_explains_every_reason() -> None:
    """Each reason code has a row in the README's table, with its meaning."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [
        code
        for code, meaning in bind_results.REASONS.items()
        if f"| `{code}` | {meaning} |" not in readme
    ]
    assert missing == []
