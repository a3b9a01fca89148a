"""The README and the pages under docs/ stay true: every link leads somewhere, every page is
reachable from the README, the settings, topics and metrics they list are the ones the code
has (both ways), and the README's walk is the one `make run` prints."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from consumers.measurements import MeasurementMetrics
from consumers.process import PendingBindMetrics
from gridhook import walk
from gridhook.contract.environment import VARIABLES
from gridhook.contract.settings import PROJECT_ROOT
from gridhook.contract.topics import all_topics
from gridhook.kafka.consumer_metrics import ConsumerMetrics
from service.ingress.metrics import IngressMetrics

README = PROJECT_ROOT / "README.md"
DOCS = PROJECT_ROOT / "docs"
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def pages() -> list[Path]:
    return [README, PROJECT_ROOT / "bench" / "README.md", *sorted(DOCS.glob("*.md"))]


def links(page: Path) -> list[str]:
    return [target for target in _LINK.findall(page.read_text()) if "://" not in target]


def table_names(page: str, pattern: str) -> set[str]:
    """The names in the first column of the tables of `docs/<page>` that match `pattern`."""
    text = (DOCS / page).read_text()
    first = re.findall(r"(?m)^\| `([^`]+)` \|", text)
    return {name for name in first if re.fullmatch(pattern, name)}


def test_every_link_leads_to_a_file() -> None:
    """Relative links in the README, the docs and the benchmarks' page name files that exist."""
    broken = [
        f"{page.relative_to(PROJECT_ROOT)} -> {target}"
        for page in pages()
        for target in links(page)
        if not (page.parent / target).exists()
    ]
    assert broken == []


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    """Following links from the README reaches every page under docs/."""
    seen: set[Path] = set()
    pending = [README.resolve()]
    while pending:
        page = pending.pop()
        if page in seen or page.suffix != ".md" or not page.exists():
            continue
        seen.add(page)
        pending += [(page.parent / target).resolve() for target in links(page)]
    assert {page.resolve() for page in DOCS.glob("*.md")} - seen == set()


def test_the_settings_page_lists_every_variable_and_no_other() -> None:
    """Each variable gridhook reads has its row (name, default, meaning as declared); every
    row names a variable gridhook reads."""
    text = (DOCS / "settings.md").read_text()
    missing = [
        variable.name
        for variable in VARIABLES
        if f"| `{variable.name}` | {f'`{variable.default}`' if variable.default else '(unset)'} "
        f"| {variable.help} |" not in text
    ]
    assert missing == []
    listed = table_names("settings.md", r"(GRIDHOOK|KAFKA)_[A-Z0-9_]+")
    assert listed == {variable.name for variable in VARIABLES}


def test_the_topics_page_lists_every_topic_and_no_other() -> None:
    assert table_names("topics.md", r"[a-z0-9._-]+") == {topic.name for topic in all_topics()}


def test_the_metrics_page_lists_every_metric_and_no_other() -> None:
    """The metrics of the ingress, of every consumer, of the bind forwarder and of the
    measurements consumer, as Prometheus
    exposes them (a counter's name ends in `_total`)."""
    registries = [IngressMetrics().registry, ConsumerMetrics("group").registry]
    forwarder, measurements = CollectorRegistry(), CollectorRegistry()
    PendingBindMetrics(forwarder)
    MeasurementMetrics(measurements)
    registries += [forwarder, measurements]
    exposed = set()
    for registry in registries:
        for collector in registry._collector_to_names:
            for family in collector.collect():
                counter = isinstance(collector, Counter)
                exposed.add(family.name + ("_total" if counter else ""))
    assert table_names("metrics.md", r"gridhook_[a-z_]+") == exposed


def test_the_readme_walk_is_the_one_make_run_prints() -> None:
    """With `make run`'s default addresses, the printed walk and the README's are one text."""
    printed = walk.text(
        walk.Addresses(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8091",
            "http://127.0.0.1:8070",
            PROJECT_ROOT / ".gridhook" / "dev.env",
        )
    )
    assert f"```sh\n{printed}\n```" in README.read_text()
