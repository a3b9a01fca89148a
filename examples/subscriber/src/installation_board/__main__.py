"""`python -m installation_board --db board.db`: run the board until SIGTERM or Ctrl-C.

The brokers come from KAFKA_BOOTSTRAP_SERVERS (gridhook's `make run` broker is
127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from gridhook.subscriber import run
from installation_board.board import Board


async def main(database: Path, bootstrap: str) -> None:
    board = Board(database)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        summary = await run(board.subscription(), bootstrap=bootstrap, stop=stop)
        print(f"installation board stopped: {summary.as_fields()}")
    finally:
        board.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="installation_board", description=__doc__)
    parser.add_argument("--db", type=Path, default=Path("board.db"), help="the board's SQLite file")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.db, os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")))
