"""Ports on 127.0.0.1 for processes that will listen on them later: the embedded brokers, the
consumers' metrics under `gridhook run`, and the servers tests and benchmarks start."""

from __future__ import annotations

import random
import socket
from collections.abc import Collection
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000
_handed_out: set[int] = set()


def free_port(avoid: Collection[int] = (), preferred: int = 0) -> int:
    """`preferred` when nothing listens there (and it is not in `avoid`); else a port free on
    127.0.0.1 now, drawn below the kernel's ephemeral range: a socket bound to port 0
    meanwhile (a Kafka client's, a server told port 0) is given a port from that range, so it
    cannot take this one before its process binds it. Never one this process handed out
    before, nor one in `avoid`."""
    if preferred and preferred not in avoid and port_is_free(preferred):
        _handed_out.add(preferred)
        return preferred
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


def port_is_free(port: int) -> bool:
    """True unless a socket listens on `port`: connections in TIME_WAIT do not hold it, as a
    server socket with SO_REUSEADDR (Kafka's, aiohttp's) binds over them."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
