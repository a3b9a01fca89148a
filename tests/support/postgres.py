"""A throwaway PostgreSQL server for the store tests.

`GRIDHOOK_TEST_POSTGRES_URL` points at an existing server; otherwise, when PostgreSQL's server
binaries are installed (Debian: `apt-get install postgresql`), the session runs its own cluster
on a free port in a temporary directory and removes it at the end.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from gridhook.dev.ports import free_port

HOW_TO_ENABLE = (
    "PostgreSQL store tests need PostgreSQL's server binaries (Debian: apt-get install "
    "postgresql) or GRIDHOOK_TEST_POSTGRES_URL=postgresql://user:pass@host/db"
)


def server_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, newest version first, or None."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def available() -> bool:
    return bool(os.environ.get("GRIDHOOK_TEST_POSTGRES_URL")) or server_binaries() is not None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL URL valid for the duration of the block."""
    configured = os.environ.get("GRIDHOOK_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError(HOW_TO_ENABLE)
    # initdb refuses to run as root; run the server as the postgres user then.
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
    directory = Path(tempfile.mkdtemp(prefix="gridhook-pg-"))
    if as_user:
        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    data = directory / "data"
    port = free_port()
    subprocess.run(
        [
            *as_user,
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [
            *as_user,
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(directory / "server.log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:  # `pg_ctl -w` returned once the server accepts connections
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


async def fresh_database(server: str) -> str:
    """A new, empty database on `server`; its URL."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server.replace("postgresql://", "postgres://"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server.rsplit("/", 1)[0] + "/" + name
