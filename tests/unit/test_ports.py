"""Ports for processes that listen later (`gridhook.dev.ports`)."""

from __future__ import annotations

import socket

from gridhook.dev.ports import EPHEMERAL_RANGE, LOWEST, free_port


def test_a_port_is_free_below_the_ephemeral_range_and_handed_out_once() -> None:
    """Each port is bindable, below where the kernel draws ports for port-0 binds (so none can
    take it first), and none is handed out twice or among those to avoid."""
    ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    avoided = range(LOWEST, ephemeral - 1_000)  # all but the last thousand below the range
    ports = [free_port(avoid=avoided) for _ in range(200)]

    assert len(set(ports)) == 200
    for port in ports:
        assert ephemeral - 1_000 <= port < ephemeral
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", ports[-1]))
