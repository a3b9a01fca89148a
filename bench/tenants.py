"""The tenants benchmark (`make bench`, or `python -m bench tenants` for this one only).

One ingress with a tenants file: the default tenant (the environment's Light secret, no limit)
and a tenant `flood` (its own Light secret at `/webhooks/light/flood`, 200 requests/s with a
burst of 400). The default tenant sends 500/s (open loop, 15 s) three times: alone; beside
`flood` sending exactly its limit (the baseline: what another tenant may cost it); beside
`flood` sending 2,000/s, ten times its limit, from a second load generator; `flood` starts a
second before each measured run (its connections and its burst are any tenant's right). The
figures: the default tenant's p99 in each, the flood's over the baseline, the flood's share
answered 429 and the rate it had accepted, and what a 429 costs the ingress (a tenant
`refused`, limited to nearly nothing, sent 2,000/s alone). On a 2-core machine the load
generators, the broker and the ingress share the cores, so the flood's requests cost the others
CPU even when answered 429.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.processes import answering, cpu_seconds, gridhook
from bench.rows import SHARED_CORES, Row
from tests.support.light_payloads import SECRET
from tests.support.processes import free_port

FLOOD_SECRET = "whsec_Zmxvb2QtdGVuYW50LXNlY3JldC0wMTIzNDU2Nzg5"
FLOOD_RATE = 200
FLOOD_BURST = 400
FLOOD_OFFERED = 2_000
DEFAULT_OFFERED = 500
CONNECTIONS = 64
SECONDS = 15
LEAD = 1


def log(message: str) -> None:
    print(f"[bench tenants] {message}", file=sys.stderr, flush=True)


def tenants_file(path: Path) -> Path:
    """`flood` at its rate and burst; `refused`, whose every request past the first is 429,
    to measure what a 429 costs (a flood's accepted share costs far more per request at
    200/s than at saturation, so it cannot be told apart in the flood's own CPU)."""
    path.write_text(
        f"[tenants.flood]\nrate = {FLOOD_RATE}\nburst = {FLOOD_BURST}\n"
        f'[tenants.flood.light]\nsecrets = ["{FLOOD_SECRET}"]\n'
        "[tenants.refused]\nrate = 0.001\nburst = 1\n"
        f'[tenants.refused.light]\nsecrets = ["{FLOOD_SECRET}"]\n'
    )
    return path


def open_loop(
    binary: Path, url: str, secret: str, rate: float, workers: int, seconds: int = SECONDS
) -> subprocess.Popen[bytes]:
    """The load generator at `rate` requests per second for `seconds`, its JSON on stdout."""
    command = [str(binary), "-url", url, "-duration", f"{seconds}s", "-workers", str(workers)]
    command += ["-rate", str(rate), "-secret", secret]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def outcome(generator: subprocess.Popen[bytes]) -> Any:
    out, _ = generator.communicate(timeout=SECONDS + 60)
    return orjson.loads(out)


def run(bootstrap: str, binary: Path, workdir: Path) -> dict[str, Any]:
    """The default tenant's latency alone and beside a flooding tenant; the flood's 429s."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "GRIDHOOK_LIGHT_SECRETS": SECRET,
        "GRIDHOOK_TENANTS_FILE": str(tenants_file(workdir / "tenants.toml")),
        "GRIDHOOK_HTTP_PORT": str(port),
        "GRIDHOOK_DATABASE_URL": f"sqlite:///{workdir / 'tenants-ingress.db'}",
        "GRIDHOOK_LOG_LEVEL": "WARNING",
        "GRIDHOOK_DEDUP_MAX_IDS": "100000",
    }
    mine = f"{base}/webhooks/light"
    theirs = f"{base}/webhooks/light/flood"
    with gridhook(["ingress"], environment) as ingress:
        asyncio.run(answering(f"{base}/readyz"))
        outcome(open_loop(binary, mine, SECRET, DEFAULT_OFFERED, CONNECTIONS, seconds=10))
        log(f"another tenant alone at {FLOOD_OFFERED}/s, every request past its limit")
        refusing = f"{base}/webhooks/light/refused"
        before = cpu_seconds(ingress.pid)
        refused = outcome(open_loop(binary, refusing, FLOOD_SECRET, FLOOD_OFFERED, 256, seconds=5))
        per_refusal = (cpu_seconds(ingress.pid) - before) / max(refused["requests"], 1)
        log(f"the default tenant alone at {DEFAULT_OFFERED}/s, {SECONDS} s")
        alone = outcome(open_loop(binary, mine, SECRET, DEFAULT_OFFERED, CONNECTIONS))

        def beside_other(rate: float, workers: int) -> tuple[Any, Any]:
            """The default tenant's run, and `flood`'s at `rate`, started `LEAD_SECONDS`
            before it: its connections opening and its burst are what any tenant may do at
            its limit, not a flood's cost."""
            other = open_loop(binary, theirs, FLOOD_SECRET, rate, workers, SECONDS + 2 * LEAD)
            time.sleep(LEAD)
            measured = outcome(open_loop(binary, mine, SECRET, DEFAULT_OFFERED, CONNECTIONS))
            return measured, outcome(other)

        log(f"the same beside a tenant sending its limit, {FLOOD_RATE}/s")
        baseline, _ = beside_other(FLOOD_RATE, CONNECTIONS)
        log(f"the same beside that tenant flooding at {FLOOD_OFFERED}/s")
        beside, flooded = beside_other(FLOOD_OFFERED, 256)
    answered = max(flooded["requests"], 1)
    return {
        "alone": alone,
        "beside_limit": baseline,
        "beside_flood": beside,
        "flood": flooded,
        "flood_429_share": flooded["statuses"].get("429", 0) / answered,
        "flood_accepted_per_second": flooded["statuses"].get("200", 0) / flooded["seconds"],
        "p99_ratio": beside["p99_ok_ms"] / max(baseline["p99_ok_ms"], 1e-9),
        "cpu_us_per_refusal": 1e6 * per_refusal,
    }


def rows(result: dict[str, Any]) -> list[Row]:
    """The table's rows: figure, measured, target."""
    alone, limit, flood = result["alone"], result["beside_limit"], result["beside_flood"]
    accepted = result["flood_accepted_per_second"]
    return [
        Row(
            f"Tenants: default tenant's p99 at {DEFAULT_OFFERED}/s alone /"
            f" beside a tenant at its {FLOOD_RATE}/s limit / flooding at {FLOOD_OFFERED:,}/s",
            f"{alone['p99_ok_ms']:.1f} / {limit['p99_ok_ms']:.1f} / {flood['p99_ok_ms']:.1f} ms",
        ),
        Row(
            "  p99 beside the flood / beside the tenant at its limit",
            f"{result['p99_ratio']:.2f}x",
            "<= 1.5x",
            result["p99_ratio"] <= 1.5,
            SHARED_CORES,
        ),
        Row(
            "  the flooding tenant",
            f"{result['flood_429_share']:.0%} answered 429,"
            f" {accepted:.0f}/s accepted;"
            f" {result['cpu_us_per_refusal']:.0f} us CPU per 429",
            f"~{FLOOD_RATE}/s accepted",
            abs(accepted - FLOOD_RATE) <= FLOOD_RATE / 5,
            "the tenant's burst (twice its rate) comes on top of its rate, over the run",
        ),
    ]
