"""`gridhook run` (what `make run` runs), as a newcomer uses it: the walk it prints works as
printed, with the answers it shows, the first time and after a restart; Ctrl-C stops it
quickly and cleanly, under load; a second Ctrl-C stops it at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from gridhook.contract.settings import PROJECT_ROOT
from gridhook.contract.topics import CONSUMERS
from tests.support.kafka import commit_at_end
from tests.support.light_payloads import light_event, signed
from tests.support.processes import free_port, http_ok
from tests.support.waiting import eventually

STOP_SECONDS = 5.0
SUMMARIES = (
    "ingress stopped",
    "console stopped",
    "AMI head-end emulator stopped",
    "Light emulator stopped",
    "WattShift emulator stopped",
)


@dataclass
class Run:
    """One `gridhook run`, its log, and the walk it printed."""

    process: subprocess.Popen[bytes]
    log: Path
    environment: dict[str, str]

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def walk(self) -> list[Step]:
        return parse_walk(self.text())

    def children(self) -> list[int]:
        started = re.findall(r'"message":"started [^"]+","pid":(\d+)', self.text())
        return [int(pid) for pid in started]


@dataclass(frozen=True)
class Step:
    """A command of the printed walk, and the answers it shows."""

    command: str
    answer: str
    again: str | None


def parse_walk(printed: str) -> list[Step]:
    """The walk's prelude (the lines that define its variables) joined to each step."""
    block = printed.split("gridhook is running.", 1)[1].split("Operator console:", 1)[0]
    lines = [line[2:] for line in block.splitlines() if line.startswith("  ")]
    prelude = lines[:2]
    steps: list[Step] = []
    command: list[str] = []
    for line in lines[2:]:
        if line.startswith("#  → "):
            steps.append(Step("\n".join([*prelude, *command]), line[5:], None))
            command = []
        elif line.startswith("#    again: "):
            last = steps[-1]
            steps[-1] = Step(last.command, last.answer, line[len("#    again: ") :])
        elif not line.startswith("#"):
            command.append(line)
    return steps


_PAIR = re.compile(r'"(\w+)":("[^"…]*"|-?\d+(?:\.\d+)?|true|false|null)(?=[,}])')


def matches(output: str, shown: str) -> bool:
    """True when the command's `output` (the body, then the status) is the answer `shown`:
    the same status, and every field the answer spells out with the same value."""
    body, _, status = output.strip().rpartition(" ")
    wanted_body, _, wanted_status = shown.strip().rpartition(" ")
    if status != wanted_status:
        return False
    wanted = {name: orjson.loads(value) for name, value in _PAIR.findall(wanted_body)}
    if not wanted:
        return True
    try:
        got = _fields(orjson.loads(body))
    except orjson.JSONDecodeError:
        return False
    return all(value in got.get(name, []) for name, value in wanted.items())


def _fields(value: Any) -> dict[str, list[Any]]:
    """Every field of a JSON value, at any depth, with the values it takes."""
    found: dict[str, list[Any]] = {}
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for name, inner in item.items():
                found.setdefault(name, []).append(inner)
                pending.append(inner)
        elif isinstance(item, list):
            pending.extend(item)
    return found


async def take(run: Run, step: Step, again: bool) -> str:
    """Run a step as printed (in a shell, in the project's folder); a read is run again for a
    while, as a person would look again, until it shows its answer."""
    shown = step.again if again and step.again is not None else step.answer
    reading = "--data-binary" not in step.command and "--post" not in step.command
    deadline = time.monotonic() + (30 if reading else 0)
    while True:
        result = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", step.command],
            cwd=PROJECT_ROOT,
            env=run.environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if matches(result.stdout, shown) or time.monotonic() > deadline:
            assert matches(result.stdout, shown), (step.command, result.stdout, result.stderr)
            return result.stdout
        await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def gridhook_run(environment: dict[str, str], log: Path) -> AsyncIterator[Run]:
    """`gridhook run` in a process group of its own, as a terminal runs a command; waits
    until the ingress is ready and the walk is printed."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gridhook.cli", "run"],
            env=environment,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run = Run(process, log, environment)
    base = f"http://127.0.0.1:{environment['GRIDHOOK_HTTP_PORT']}"
    try:
        await eventually(lambda: http_ok(f"{base}/readyz"), 60, "the ingress")
        await eventually(lambda: "Operator console:" in run.text(), 10, "the printed walk")
        yield run
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in run.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def alive(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state != "Z":
            found.append(pid)
    return found


async def ctrl_c(run: Run, times: int = 1) -> float:
    """Send SIGINT to the run's process group `times` times, as Ctrl-C does; the seconds until
    it and every process it started have exited."""
    children = run.children()
    started = time.monotonic()
    for _ in range(times):
        os.killpg(run.process.pid, signal.SIGINT)
        await asyncio.sleep(0.05)
    await asyncio.to_thread(run.process.wait, 30)
    await eventually(lambda: not alive(children), 30, "every process of the run to exit")
    return time.monotonic() - started


async def light_load(base: str, secret: str, accepted: list[int]) -> None:
    """Signed Light webhooks, as fast as 8 clients get answers, until the ingress is gone;
    `accepted[0]` counts those answered 200."""

    async def client(session: aiohttp.ClientSession) -> None:
        while True:
            body, headers = signed(
                light_event("enrollment.identity_updated", f"load-{os.urandom(4).hex()}"),
                now=time.time(),
                secret=secret,
            )
            try:
                async with session.post(f"{base}/webhooks/light", data=body, headers=headers) as r:
                    accepted[0] += r.status == 200
            except aiohttp.ClientError:
                return

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(8)))


def environment_for(kafka: str, home: Path) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("GRIDHOOK_")
    }
    ports = {
        "GRIDHOOK_HTTP_PORT",
        "GRIDHOOK_CONSOLE_PORT",
        "GRIDHOOK_EMULATOR_PORT",
        "GRIDHOOK_LIGHT_EMULATOR_PORT",
        "GRIDHOOK_WATTSHIFT_EMULATOR_PORT",
    }
    return (
        environment
        | {name: str(free_port()) for name in ports}
        | {
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "GRIDHOOK_HOME": str(home),
            "GRIDHOOK_LOG_FORMAT": "json",
        }
    )


def dev_secret(home: Path) -> str:
    stored: dict[str, str] = orjson.loads((home / "dev-secrets.json").read_bytes())
    return stored["GRIDHOOK_LIGHT_SECRETS"]


async def test_the_printed_walk_works_as_printed_and_ctrl_c_stops_it_cleanly(
    kafka: str, tmp_path: Path
) -> None:
    """Walk as printed (every answer as shown); Ctrl-C under load stops every process within 5 s,
    each with its summary line, no traceback, nothing killed, exit 0; run again, walk again
    (the answers shown for a second walk); a second Ctrl-C stops at once."""
    for consumer in CONSUMERS:  # the run's consumers read only what this test publishes
        await commit_at_end(kafka, consumer.group, consumer.topics)
    home = tmp_path / "home"
    environment = environment_for(kafka, home)
    base = f"http://127.0.0.1:{environment['GRIDHOOK_HTTP_PORT']}"
    async with gridhook_run(environment, tmp_path / "first.log") as run:
        steps = run.walk()
        assert len(steps) == 10
        for step in steps:
            await take(run, step, again=False)
        await eventually(lambda: "plan_accepted" in run.text(), 60, "the plan accepted")
        accepted = [0]
        load = asyncio.create_task(light_load(base, dev_secret(home), accepted))
        await eventually(lambda: accepted[0] >= 50, 30, "the load to flow")
        seconds = await ctrl_c(run)
        await load
        log = run.text()
        assert seconds < STOP_SECONDS, log[-3000:]
        assert run.process.returncode == 0
        for summary in SUMMARIES:
            assert f'"message":"{summary}"' in log, summary
        assert log.count('"message":"consumer stopped"') == len(CONSUMERS)
        assert "Traceback" not in log
        assert "killing it" not in log
        assert '"level":"error"' not in log
    async with gridhook_run(environment, tmp_path / "again.log") as run:
        for step in run.walk():
            await take(run, step, again=True)
        seconds = await ctrl_c(run, times=2)
        assert seconds < 2.0, run.text()[-3000:]
