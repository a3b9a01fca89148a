"""Running real gridhook processes in tests, waiting on conditions with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from gridhook.dev.ports import free_port as free_port  # the servers tests start listen on one
from tests.support.waiting import eventually


async def http_ok(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


@contextlib.asynccontextmanager
async def gridhook_process(
    arguments: list[str], environment: dict[str, str], log: Path
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`gridhook <arguments>` as a real process; SIGTERM and wait at the end."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRIDHOOK_")}
    env.update(environment)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gridhook.cli", *arguments],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.asynccontextmanager
async def ingress_with_applier(
    environment: dict[str, str], logs: Path, group: str, *more: list[str]
) -> AsyncIterator[aiohttp.ClientSession]:
    """The ingress and a state applier in `group` as real processes (and any `more` gridhook
    commands), each logging to `<logs>/<command>.log`; yields a client session once the
    ingress on `GRIDHOOK_HTTP_PORT` is ready."""
    base = f"http://127.0.0.1:{environment['GRIDHOOK_HTTP_PORT']}"
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(
            gridhook_process(["ingress"], environment, logs / "ingress.log")
        )
        await stack.enter_async_context(
            gridhook_process(
                ["consume", "state", "--group", group], environment, logs / "consumer.log"
            )
        )
        for command in more:
            log = logs / f"{command[0]}.log"
            await stack.enter_async_context(gridhook_process(command, environment, log))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        await eventually(lambda: http_ok(f"{base}/readyz"), 30, "the ingress")
        yield session


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


async def run_gridhook(
    arguments: list[str], environment: dict[str, str], deadline: float = 120
) -> Finished:
    """Run `gridhook <arguments>` to completion (within `deadline` seconds)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRIDHOOK_")}
    env.update(environment)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gridhook.cli",
        *arguments,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(deadline):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"gridhook {' '.join(arguments)} ran over {deadline} s") from None
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())
