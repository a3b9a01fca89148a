"""bench/README.md's latest results are rendered from bench/results/latest.json, never by hand."""

from __future__ import annotations

import orjson

from bench.report import latest_section, readme_block
from gridhook.contract.settings import PROJECT_ROOT


def test_the_readme_s_latest_results_are_what_latest_json_renders() -> None:
    """The block between the README's markers equals the table of latest.json (rerun
    `python -m bench table` after editing either)."""
    results = orjson.loads((PROJECT_ROOT / "bench" / "results" / "latest.json").read_bytes())
    readme = (PROJECT_ROOT / "bench" / "README.md").read_text()
    assert readme_block(readme) == latest_section(results)
