"""`gridhook replay`: run the replay core (`gridhook.kafka.replay`) from the command line, with
a progress bar on a terminal and one summary line at the end."""

from __future__ import annotations

import sys

from gridhook.contract.settings import Settings
from gridhook.kafka.bulk_publisher import ConfluentPublisher
from gridhook.kafka.replay import Selection, replay


async def run(
    settings: Settings,
    topic: str,
    selection: Selection,
    *,
    dlq: bool,
    to_topic: str | None,
    rate: float | None,
    dry_run: bool,
) -> str:
    """Replay the selection (a dry run prints what it would send); the summary line."""
    bootstrap = settings.kafka.bootstrap
    # librdkafka builds and compresses the batches in C: replay's bulk is its whole job
    publisher = None if dry_run else ConfluentPublisher(settings.kafka, bootstrap)
    if publisher is not None:
        await publisher.start()
    try:
        summary = await replay(
            bootstrap,
            topic,
            selection,
            publisher,
            dlq=dlq,
            to_topic=to_topic,
            rate=rate,
            progress=terminal_progress,
        )
    finally:
        if publisher is not None:
            await publisher.stop()
    source = topic + (".dlq" if dlq and not topic.endswith(".dlq") else "")
    return summary.line(source, dry_run)


def terminal_progress(done: int, total: int, elapsed: float) -> None:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""
    if not sys.stderr.isatty() or total == 0:
        return
    width = 30
    filled = int(width * done / total)
    rate = done / elapsed if elapsed else 0.0
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} records  {rate:,.0f}/s"
    )
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
