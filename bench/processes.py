"""The processes a benchmark measures: started quietly, stopped on the way out, their CPU and
memory read from /proc, a wait until they answer, and how long consumer processes in one group
take to catch up."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.kafka import group_caught_up
from tests.support.waiting import eventually

QUIET = {"GRIDHOOK_LOG_LEVEL": "WARNING", "GRIDHOOK_CONSUMER_METRICS_PORT": "0"}
"""A gridhook process's settings in a benchmark: warnings only, no metrics server."""


@contextlib.contextmanager
def server(command: list[str], environment: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`command` running with `environment` added to this one's, its output discarded;
    terminated when the block ends."""
    process = subprocess.Popen(
        command,
        env={**os.environ, **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def gridhook(
    arguments: list[str], environment: dict[str, str]
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """`gridhook <arguments>` as a `server`, `QUIET` unless `environment` says otherwise."""
    return server([sys.executable, "-m", "gridhook.cli", *arguments], QUIET | environment)


def cpu_seconds(pid: int) -> float:
    """The CPU time process `pid` has used, user and system."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    """Process `pid`'s peak resident memory (`peak_rss_mb`, VmHWM) and what is resident now,
    anonymous (`rss_anon_mb`: the heap, gridhook's own) and mapped from files (`rss_file_mb`:
    the shared libraries' pages, as many as the page cache holds of them), in MB."""
    fields = {"VmHWM:": "peak_rss_mb", "RssAnon:": "rss_anon_mb", "RssFile:": "rss_file_mb"}
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition("\t")
        if name in fields:
            found[fields[name]] = int(value.split()[0]) / 1024
    return found


async def answering(url: str, method: str = "GET", below: int = 300, deadline: float = 60) -> None:
    """Returns once `method url` is answered with a status below `below` (within `deadline`
    seconds)."""
    async with aiohttp.ClientSession() as session:

        async def answers() -> bool:
            try:
                async with session.request(method, url) as reply:
                    return reply.status < below
            except aiohttp.ClientError:
                return False

        await eventually(answers, deadline, f"{url} to answer", interval=0.2)


async def consumed(
    bootstrap: str,
    consumer: str,
    group: str,
    ends: Any,
    environment: dict[str, str],
    processes: int = 1,
) -> float:
    """Seconds from starting `processes` `gridhook consume <consumer>` processes in `group`
    until the group has committed `ends` (their start-up counted)."""
    started = time.monotonic()
    with contextlib.ExitStack() as running:
        for _ in range(processes):
            running.enter_context(gridhook(["consume", consumer, "--group", group], environment))
        await eventually(
            lambda: group_caught_up(bootstrap, group, ends), 900, f"the {consumer} group", 0.2
        )
    return time.monotonic() - started
