"""bench/README.md's latest results are rendered from bench/results/latest.json, never by hand."""

from __future__ import annotations

import orjson

from bench.report import ingress_rows, latest_section, readme_block
from bench.rows import MEMORY, Row, draw
from gridhook.contract.settings import PROJECT_ROOT


def test_the_readme_s_latest_results_are_what_latest_json_renders() -> None:
    """The block between the README's markers equals the table of latest.json (rerun
    `python -m bench table` after editing either)."""
    results = orjson.loads((PROJECT_ROOT / "bench" / "results" / "latest.json").read_bytes())
    readme = (PROJECT_ROOT / "bench" / "README.md").read_text()
    assert readme_block(readme) == latest_section(results)


def test_a_target_not_met_is_marked_with_what_bounds_it_once() -> None:
    """Each target row says yes or no; a row not met points to a numbered note below the table
    saying what bounds it, each bound written once however many rows share it."""
    drawn = draw(
        [
            Row("applier (sqlite)", "9,000 events/s", ">= 20,000/s", False, "facts"),
            Row("applier (postgresql)", "7,000 events/s", ">= 15,000/s", False, "facts"),
            Row("peak RSS", "97 MB", "<= 100 MB", True, "imports"),
            Row("reference", "17,000/s"),
            Row("replay / dry run", "0.5", ">= 0.9", False, "produce per record"),
        ]
    )
    lines = drawn.splitlines()
    assert lines[2].endswith("no [1]")
    assert lines[3].endswith("no [1]")
    assert lines[4].endswith("yes")
    assert lines[5].endswith("17,000/s")
    assert lines[6].endswith("no [2]")
    assert lines[-2:] == ["[1] facts", "[2] produce per record"]
    assert "imports" not in drawn


def test_peak_memory_over_its_target_says_what_bounds_it_and_what_is_mapped_from_files() -> None:
    """The RSS row shows the peak with the anonymous and file-mapped parts, and when over
    100 MB it is not met and names its bound."""
    results = orjson.loads((PROJECT_ROOT / "bench" / "results" / "latest.json").read_bytes())
    ingress = results["ingress"]
    ingress["gridhook"] |= {"peak_rss_mb": 104.4, "rss_anon_mb": 74.6, "rss_file_mb": 29.2}
    (row,) = [row for row in ingress_rows(ingress) if row.benchmark == "Ingress peak RSS"]
    assert row.result == "104 MB (at the end 75 MB anonymous, 29 MB mapped from files)"
    assert row.met is False
    assert row.bound == MEMORY
