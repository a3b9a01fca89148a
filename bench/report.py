"""The benchmark table, and bench/README.md's "Latest results" rendered from a results file.

`update_readme` rewrites only what stands between the README's two markers, from
`bench/results/latest.json` (`make bench` calls it; `python -m bench table` alone), so the
figures there are never edited by hand; a test checks they match the results file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from bench import measurements, steps, tenants
from bench.parameters import CONNECTIONS, OVERLOAD_CONNECTIONS, SUSTAIN_SECONDS
from bench.rows import (
    APPLIER_FACTS,
    INGRESS_CPU,
    MEMORY,
    OVERLOAD_CORES,
    REPLAY_PRODUCE,
    SHARED_CORES,
    Row,
    draw,
)

BEGIN = "<!-- bench:latest (generated from bench/results/latest.json) -->"
END = "<!-- /bench:latest -->"


def latest_section(results: dict[str, Any]) -> str:
    """The README's block for `results`: when and where it ran, then the table."""
    started = datetime.fromisoformat(results["started"])
    box = results["machine"]
    return (
        f"Run of {started:%Y-%m-%d %H:%M} UTC, `make bench`, {results['seconds']:.0f} s, on"
        f" {box['cpu']} ({box['cores']} vCPUs, {box['memory_gib']} GiB), Python {box['python']},"
        f" Linux {box['kernel']}; raw figures in `bench/results/latest.json`.\n\n"
        f"```\n{table(results)}\n```"
    )


def readme_block(text: str) -> str:
    """What stands between the markers of `text`."""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def update_readme(path: Path, results: dict[str, Any]) -> None:
    """Replace the block between the markers of `path` with `results`' section."""
    text = path.read_text()
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    path.write_text(f"{before}{BEGIN}\n{latest_section(results)}\n{END}{after}")


def _latency(run: dict[str, Any]) -> str:
    return f"p50 {run['p50_ms']:.1f} / p99 {run['p99_ms']:.1f} / p99.9 {run['p999_ms']:.1f} ms"


def _server_row(label: str, run: dict[str, Any], ours: float) -> Row:
    sustained = run["sustained"]
    cpu = run["server_cpu_us_per_request"]
    ratio = ours / sustained["throughput"]
    value = f"{sustained['throughput']:,.0f}/s, {cpu:.0f} us/req CPU; gridhook {ratio:.2f}x"
    return Row(label, value)


def table(results: dict[str, Any]) -> str:
    """The results as a plain-text table with the targets beside them (the parts they hold)."""
    rows: list[Row] = []
    for part, render in (
        ("ingress", ingress_rows),
        ("state_applier", applier_rows),
        ("measurements", measurements.rows),
        ("tenants", tenants.rows),
        ("replay", replay_rows),
    ):
        if part in results:
            rows += render(results[part])
        if part == "ingress" and "steps" in results:
            rows += steps.rows(results["steps"], results.get("ingress"))
    return draw(rows)


def ingress_rows(ingress: dict[str, Any]) -> list[Row]:
    """The ingress against its references, latency, overload and memory."""
    ours = ingress["gridhook"]
    throughput = ours["sustained"]["throughput"]
    reference = ingress["bare_send-idempotent"]["sustained"]["throughput"]
    cpu = f"{ours['server_cpu_cores']:.2f} cores, {ours['server_cpu_us_per_request']:.0f} us/req"
    errors = ours["sustained"]["errors"]
    rows = [
        Row(
            f"Ingress sustained (closed loop, {SUSTAIN_SECONDS} s, {CONNECTIONS} connections)",
            f"{throughput:,.0f}/s, {errors} errors; {cpu}",
            "0 errors",
            errors == 0,
        ),
        Row(
            "  gridhook / bare aiokafka send_and_wait",
            f"{throughput / reference:.2f}",
            ">= 0.8",
            throughput / reference >= 0.8,
            INGRESS_CPU,
        ),
        _server_row("  bare aiohttp 204, no Kafka", ingress["bare_noop"], throughput),
        _server_row(
            "  bare aiokafka send_and_wait (idempotent)",
            ingress["bare_send-idempotent"],
            throughput,
        ),
        _server_row(
            "  bare confluent-kafka (idempotent)", ingress["bare_send-confluent"], throughput
        ),
        _server_row("  Go net/http + franz-go, checks HMAC", ingress["go_reference"], throughput),
        _server_row("  gridhook, compression none", ingress["gridhook_uncompressed"], throughput),
    ]
    for label, key in (
        ("Ingress", "gridhook"),
        ("  bare aiokafka", "bare_send-idempotent"),
        ("  bare confluent-kafka", "bare_send-confluent"),
        ("  Go + franz-go", "go_reference"),
    ):
        for run in ingress[key]["latency"]:
            name = f"{label} at {run['offered_rate']:,.0f}/s (open loop)"
            if key != "gridhook":
                rows.append(Row(name, _latency(run)))
                continue
            met = run["p50_ms"] <= 2 and run["p99_ms"] <= 10
            rows.append(Row(name, _latency(run), "p50 <= 2, p99 <= 10 ms", met, SHARED_CORES))
    for key, how in (("gridhook_shedding", "default"), ("gridhook_no_shedding", "off")):
        run = ingress[key]["latency"][-1]
        shed = run["statuses"].get("503", 0) / max(run["requests"], 1)
        rows.append(
            Row(
                f"Ingress at {run['offered_rate']:,.0f}/s (2x), {OVERLOAD_CONNECTIONS} conns, "
                f"shedding {how}",
                f"accepted {run['throughput']:,.0f}/s, p99 {run['p99_ok_ms']:.0f} ms "
                f"(server {run['p99_ok_service_ms']:.0f} ms); 503 {100 * shed:.0f}%",
            )
        )
        if key == "gridhook_shedding" and len(ingress[key]["latency"]) > 1:
            half = ingress[key]["latency"][0]
            goodput = run["throughput"] / throughput
            slower = run["p99_ok_ms"] / half["p99_ok_ms"]
            rows += [
                Row(
                    f"  the same server at {half['offered_rate']:,.0f}/s (half load)",
                    _latency(half),
                ),
                Row(
                    "  accepted at 2x / sustained; their p99 / p99 at half load",
                    f"{goodput:.2f}; {slower:.1f}x",
                    ">= 0.8; <= 10x",
                    goodput >= 0.8 and slower <= 10,
                    OVERLOAD_CORES,
                ),
            ]
    rss = ours["peak_rss_mb"]
    parts = ""
    if "rss_anon_mb" in ours:  # recorded since round 3's last stop
        parts = (
            f" (at the end {ours['rss_anon_mb']:.0f} MB anonymous, "
            f"{ours['rss_file_mb']:.0f} MB mapped from files)"
        )
    rows += [
        Row("Ingress peak RSS", f"{rss:.0f} MB{parts}", "<= 100 MB", rss <= 100, MEMORY),
        Row("Load generator CPU (sustained run)", f"{ours['loadgen_cpu_cores']:.2f} cores"),
    ]
    return rows


def applier_rows(applier: dict[str, Any]) -> list[Row]:
    """The state applier on each database, alone and in processes."""
    rows = []
    for name, run in applier.items():
        wanted = 20_000 if name == "sqlite" else 15_000
        target = f">= {wanted:,}/s"
        if "error" in run:
            rows.append(Row(f"State applier ({name})", run["error"], target, False))
            continue
        runs = [(f"State applier ({name}, {run['records']:,} records)", run)]
        if "in_processes" in run:
            several = run["in_processes"]
            runs.append((f"  {several['processes']} processes in one group", several))
        for label, measured in runs:
            rate = measured["events_per_second"]
            rows.append(Row(label, f"{rate:,.0f} events/s", target, rate >= wanted, APPLIER_FACTS))
    return rows


def replay_rows(replayed: dict[str, Any]) -> list[Row]:
    """Replay with each producer client against its own dry run."""
    dry = replayed["dry_run_per_second"]
    ratio = replayed["records_per_second"] / dry
    rows = [
        Row(
            f"Replay ({replayed['records']:,} records)",
            f"{replayed['records_per_second']:,.0f} records/s",
        ),
        Row("  dry run (read and select only)", f"{dry:,.0f} records/s"),
        Row("  replay / dry run", f"{ratio:.2f}", ">= 0.9", ratio >= 0.9, REPLAY_PRODUCE),
    ]
    for client in ("confluent", "aiokafka"):
        if client in replayed:
            rate = replayed[client]["records_per_second"]
            rows.append(Row(f"  with {client}", f"{rate:,.0f} records/s ({rate / dry:.2f})"))
    return rows
