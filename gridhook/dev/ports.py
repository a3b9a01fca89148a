"""Ports on 127.0.0.1 for processes that will listen on them later: the embedded brokers, and
the servers tests and benchmarks start."""

from __future__ import annotations

import random
import socket
from collections.abc import Collection
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000
_handed_out: set[int] = set()


def free_port(avoid: Collection[int] = ()) -> int:
    """A port free on 127.0.0.1 now, drawn below the kernel's ephemeral range: a socket bound
    to port 0 meanwhile (a Kafka client's, a server told port 0) is given a port from that
    range, so it cannot take this one before its process binds it. Never one in `avoid`, nor
    one this process handed out before."""
    try:
        ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32_768
    draw = random.SystemRandom()
    for _ in range(1_000):
        port = draw.randrange(LOWEST, ephemeral)
        if port in _handed_out or port in avoid:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise OSError(f"no free port between {LOWEST} and {ephemeral} on 127.0.0.1")
