"""`make bench`: measure the ingress, the state applier and replay against a real broker.

Writes `bench/results/<utc time>.json` and `bench/results/latest.json`, rewrites the latest
results in bench/README.md from it, and prints a table. `python -m bench <part>` runs one part
(measurements, tenants, applier, replay, ingress, steps) and only prints it;
`python -m bench table` only re-renders bench/README.md from latest.json.
Uses the broker at KAFKA_BOOTSTRAP_SERVERS (it writes to the catalogue topics: use a dedicated
cluster) or starts a fresh embedded one. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import measurements, report, steps, tenants
from bench.applier import PROCESSES, apply_all, apply_in_processes, fill
from bench.parameters import (
    CONNECTIONS,
    LATENCY_SECONDS,
    OVERLOAD_CONNECTIONS,
    STATE_RECORDS,
    SUSTAIN_SECONDS,
)
from bench.processes import answering, cpu_seconds, memory_mb, server
from bench.reference_servers import REFERENCE_TOPIC
from bench.report import table
from gridhook.contract.running import run_batch
from gridhook.contract.settings import PROJECT_ROOT, Settings
from gridhook.contract.topics import Topic
from gridhook.dev.embedded_kafka import EmbeddedKafka
from gridhook.kafka.bulk_publisher import ConfluentPublisher
from gridhook.kafka.provision import ensure_topics
from gridhook.kafka.publisher import KafkaPublisher
from gridhook.kafka.replay import Selection, replay
from tests.support.light_payloads import SECRET
from tests.support.postgres import available as postgres_available
from tests.support.postgres import postgres_server
from tests.support.processes import free_port

RESULTS = PROJECT_ROOT / "bench" / "results"
README = PROJECT_ROOT / "bench" / "README.md"
PARTS = ("measurements", "tenants", "applier", "replay", "ingress", "steps")


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def build_go(home: Path, program: str) -> Path:
    """Build the Go program `bench/<program>` (the load generator, the Go reference server)
    into `home/bench/<program>`."""
    if shutil.which("go") is None:
        raise SystemExit(f"bench: Go is needed to build bench/{program}")
    binary = home / "bench" / program
    binary.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=PROJECT_ROOT / "bench" / program,
        check=True,
        env=os.environ,
    )
    return binary


def loadgen(
    binary: Path,
    url: str,
    *,
    rate: float = 0,
    seconds: int,
    plain: bool,
    connections: int = CONNECTIONS,
) -> Any:
    command = [str(binary), "-url", url, "-duration", f"{seconds}s", "-workers", str(connections)]
    command += ["-rate", str(rate)] if rate else []
    command += ["-plain"] if plain else ["-secret", SECRET]
    return orjson.loads(subprocess.run(command, capture_output=True, check=True).stdout)


def measure_server(
    name: str,
    binary: Path,
    command: list[str],
    environment: dict[str, str],
    url: str,
    ready: str,
    *,
    plain: bool,
    latency_rates: list[float] | None,
    sustain: bool = True,
    connections: int = CONNECTIONS,
) -> dict[str, Any]:
    """A closed-loop run (`sustain`), then an open-loop run at each of `latency_rates`, with
    the server's CPU per request and its peak RSS."""
    with server(command, environment) as process:
        readiness = "GET" if ready.endswith("/readyz") else "POST"  # a reference: POST only
        asyncio.run(answering(ready, readiness, below=500))
        loadgen(binary, url, seconds=3, plain=plain)  # warm-up: connections, caches
        result: dict[str, Any] = {}
        if sustain:
            log(f"{name}: closed loop, {SUSTAIN_SECONDS} s")
            cpu_before = cpu_seconds(process.pid)
            sustained = loadgen(binary, url, seconds=SUSTAIN_SECONDS, plain=plain)
            cpu_used = cpu_seconds(process.pid) - cpu_before
            result |= {
                "sustained": sustained,
                "server_cpu_cores": cpu_used / sustained["seconds"],
                "server_cpu_us_per_request": 1e6 * cpu_used / max(sustained["requests"], 1),
                "loadgen_cpu_cores": sustained["loadgen_cpu_seconds"] / sustained["seconds"],
            }
        result["latency"] = []
        for rate in latency_rates or []:
            log(f"{name}: open loop at {rate}/s, {LATENCY_SECONDS} s")
            before = cpu_seconds(process.pid)
            run = loadgen(
                binary,
                url,
                rate=rate,
                seconds=LATENCY_SECONDS,
                plain=plain,
                connections=connections,
            )
            run["server_cpu_us_per_request"] = (
                1e6 * (cpu_seconds(process.pid) - before) / max(run["requests"], 1)
            )
            result["latency"].append(run)
        result |= memory_mb(process.pid)
    return result


def ingress_benchmarks(bootstrap: str, binary: Path, goref: Path, workdir: Path) -> dict[str, Any]:
    """gridhook's ingress and the reference servers, one after another on the same broker."""
    python = sys.executable
    results: dict[str, Any] = {}

    def gridhook(name: str, extra: dict[str, str], **options: Any) -> dict[str, Any]:
        port = free_port()
        environment = {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "GRIDHOOK_LIGHT_SECRETS": SECRET,
            "GRIDHOOK_HTTP_PORT": str(port),
            "GRIDHOOK_DATABASE_URL": f"sqlite:///{workdir / 'ingress.db'}",
            "GRIDHOOK_LOG_LEVEL": "WARNING",
            "GRIDHOOK_DEDUP_MAX_IDS": "100000",
            **extra,
        }
        base = f"http://127.0.0.1:{port}"
        return measure_server(
            name,
            binary,
            [python, "-m", "gridhook.cli", "ingress"],
            environment,
            f"{base}/webhooks/light",
            f"{base}/readyz",
            plain=False,
            **options,
        )

    # The throughput and latency rows measure the pipeline itself: no shedding.
    unbounded = {"GRIDHOOK_MAX_PUBLISHES_IN_FLIGHT": "0"}
    results["gridhook"] = gridhook("gridhook ingress", unbounded, latency_rates=[2000])
    overload = round(2 * results["gridhook"]["sustained"]["throughput"])
    # Overload comes from more clients than the shedding bound (128 publishes in flight); the
    # same server at half the sustained rate first, the p99 the overloaded one is held to.
    results["gridhook_shedding"] = gridhook(
        "gridhook ingress, default shedding",
        {},
        latency_rates=[round(overload / 4), overload],
        sustain=False,
        connections=OVERLOAD_CONNECTIONS,
    )
    results["gridhook_no_shedding"] = gridhook(
        "gridhook ingress, no shedding",
        unbounded,
        latency_rates=[overload],
        sustain=False,
        connections=OVERLOAD_CONNECTIONS,
    )
    results["gridhook_uncompressed"] = gridhook(
        "gridhook ingress, compression none",
        {**unbounded, "GRIDHOOK_KAFKA_COMPRESSION": "none"},
        latency_rates=None,
    )
    for mode in ("noop", "send-idempotent", "send-confluent"):
        port = free_port()
        url = f"http://127.0.0.1:{port}/webhooks/light"
        results[f"bare_{mode}"] = measure_server(
            f"bare {mode}",
            binary,
            [python, "-m", "bench.reference_servers", mode, str(port), bootstrap],
            {},
            url,
            url,
            plain=False,
            latency_rates=None if mode == "noop" else [2000],
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}/webhooks/light"
    results["go_reference"] = measure_server(
        "Go net/http + franz-go",
        binary,
        [str(goref), "-listen", f"127.0.0.1:{port}", "-brokers", bootstrap, "-secret", SECRET],
        {},
        url,
        url,
        plain=False,
        latency_rates=[2000],
    )
    return results


def applier_benchmarks(bootstrap: str, settings: Settings, workdir: Path) -> dict[str, Any]:
    """One applier, then `PROCESSES` applier processes, each into a fresh store, on SQLite and
    on PostgreSQL (when installed)."""
    results: dict[str, Any] = {}
    log("state applier on SQLite")
    sqlite = run_batch(apply_all(bootstrap, settings, f"sqlite:///{workdir / 'state.db'}"))
    log(f"state applier on SQLite, {PROCESSES} processes")
    url = f"sqlite:///{workdir / 'state-processes.db'}"
    results["sqlite"] = sqlite | {"in_processes": asyncio.run(apply_in_processes(bootstrap, url))}
    if not postgres_available():
        results["postgresql"] = {"error": "PostgreSQL not installed"}
        return results
    log("state applier on PostgreSQL")
    with postgres_server() as url:
        postgresql = run_batch(apply_all(bootstrap, settings, url))
    log(f"state applier on PostgreSQL, {PROCESSES} processes")
    with postgres_server() as url:
        in_processes = asyncio.run(apply_in_processes(bootstrap, url))
    results["postgresql"] = postgresql | {"in_processes": in_processes}
    return results


async def replay_benchmark(bootstrap: str, settings: Settings) -> dict[str, Any]:
    """A dry run of 200,000 records, then a replay of them with each producer client."""
    source = f"bench.replay-source-{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, 1, [Topic(source, "key", "bench", 6, (), {})])
    await fill(bootstrap, settings, STATE_RECORDS, only_topic=source)
    dry = await replay(
        bootstrap, source, Selection(), None, progress=lambda *_: None, dry_run_line=lambda _: None
    )
    result: dict[str, Any] = {"dry_run_per_second": dry.selected / dry.seconds}
    for name, client in (("confluent", ConfluentPublisher), ("aiokafka", KafkaPublisher)):
        target = f"bench.replay-{name}-{uuid.uuid4().hex[:6]}"
        await ensure_topics(bootstrap, 1, [Topic(target, "key", "bench", 6, (), {})])
        publisher = client(settings.kafka, bootstrap)
        await publisher.start()
        try:
            summary = await replay(
                bootstrap, source, Selection(), publisher, to_topic=target, progress=lambda *_: None
            )
        finally:
            await publisher.stop()
        result[name] = {"records": summary.sent, "seconds": summary.seconds}
        result[name]["records_per_second"] = summary.sent / summary.seconds
    # the figure of `gridhook replay`, which uses librdkafka
    result |= {k: result["confluent"][k] for k in ("records", "seconds", "records_per_second")}
    return result


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def main() -> int:
    if sys.argv[1:] == ["table"]:  # only re-render bench/README.md from latest.json
        report.update_readme(README, orjson.loads((RESULTS / "latest.json").read_bytes()))
        return 0
    only = sys.argv[1] if len(sys.argv) > 1 else None
    if only not in (None, *PARTS):
        raise SystemExit(f"bench: give one of {', '.join(PARTS)}, table, or nothing for all")
    if only == "steps":  # in-process, no broker
        print(table({"steps": run_batch(steps.run())}))
        return 0
    # SIGTERM unwinds like Ctrl-C, so the broker and the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    settings = Settings.from_env()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="gridhook-bench-"))
    broker = None
    bootstrap = settings.kafka.bootstrap_servers
    try:
        if bootstrap is None:
            log("starting a fresh embedded Kafka broker")
            broker = EmbeddedKafka(settings.home, workdir / "kafka")
            bootstrap = broker.start(port=0, controller_port=0)
        settings = replace(settings, kafka=replace(settings.kafka, bootstrap_servers=bootstrap))
        asyncio.run(ensure_topics(bootstrap, settings.kafka.replication_factor))
        reference = Topic(REFERENCE_TOPIC, "random", "bench", 6, (), {})
        asyncio.run(ensure_topics(bootstrap, settings.kafka.replication_factor, [reference]))
        results: dict[str, Any] = {"machine": machine(), "started": datetime.now(UTC).isoformat()}

        def wanted(part: str) -> bool:
            return only in (None, part)

        if wanted("measurements"):
            log("measurements")
            results["measurements"] = measurements.run(bootstrap, settings, workdir)
        binary = (
            build_go(settings.home, "loadgen") if wanted("tenants") or wanted("ingress") else None
        )
        if binary is not None and wanted("tenants"):
            log("tenants")
            results["tenants"] = tenants.run(bootstrap, binary, workdir)
        if wanted("applier"):
            log(f"filling the state topics with {STATE_RECORDS:,} records")
            asyncio.run(fill(bootstrap, settings, STATE_RECORDS))
            results["state_applier"] = applier_benchmarks(bootstrap, settings, workdir)
        if wanted("replay"):
            log("replay")
            results["replay"] = run_batch(replay_benchmark(bootstrap, settings))
        if binary is not None and wanted("ingress"):
            goref = build_go(settings.home, "goref")
            results["ingress"] = ingress_benchmarks(bootstrap, binary, goref, workdir)
        if wanted("steps"):
            log("ingress steps")
            results["steps"] = run_batch(steps.run())
        results["seconds"] = time.monotonic() - started
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if only is not None:  # one part: printed, not recorded as the latest results
        print(table(results))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = orjson.dumps(results, option=orjson.OPT_INDENT_2)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_bytes(text)
    (RESULTS / "latest.json").write_bytes(text)
    report.update_readme(README, results)
    print(table(results))
    print(f"\n({results['seconds']:.0f} s; results in bench/results/{stamp}.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
