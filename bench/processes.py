"""The processes a benchmark measures: started quietly, stopped on the way out, their CPU and
peak memory read from /proc, and a wait until they answer."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp

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


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of process `pid` (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


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
