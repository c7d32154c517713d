"""Following a run until every recipient is done, with the embedded workers when this command
runs them itself."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from distributie import states
from distributie.ledger import Ledger
from distributie.operations.session import Session
from distributie.runtime.workers import embedded_workers
from distributie.settings import Settings

Progress = Callable[[dict[str, int], int], None]  # counts per state, total


def all_done(counts: dict[str, int]) -> bool:
    return not any(counts[s] for s in states.PENDING_STATES)


def follow(
    ledger: Ledger,
    run_id: str,
    on_progress: Progress,
    poll: float = 0.25,
    until: Callable[[], bool] | None = None,
) -> dict[str, int]:
    """Wait until every recipient is in a terminal state, reporting counts as they change."""
    total = int(ledger.run_info(run_id).get("total") or 0)
    last: dict[str, int] = {}
    while True:
        counts = ledger.counts(run_id)
        if counts != last:
            on_progress(counts, total)
            last = counts
        if sum(counts[s] for s in states.TERMINAL_STATES) >= total:
            return counts
        if until is not None and until():
            return counts
        time.sleep(poll)


@dataclass(frozen=True)
class Followed:
    counts: dict[str, int]
    worker_stopped: bool  # the embedded worker ended before the run did (see its log)


def worker_log(settings: Settings) -> Path:
    """Where the embedded worker of this folder writes its log."""
    return settings.data_dir.resolve() / "worker.log"


def run_until_done(session: Session, run_id: str, on_progress: Progress) -> Followed:
    """Follow a run to its end; with the embedded default, run its workers meanwhile.

    Ctrl-C (KeyboardInterrupt) passes through; the embedded workers are stopped warm first, so
    nothing they were sending is left half done.
    """
    if not session.embedded:
        return Followed(follow(session.ledger, run_id, on_progress), worker_stopped=False)
    concurrency = session.settings.worker_concurrency
    with embedded_workers(session.redis_url, concurrency, worker_log(session.settings)) as worker:
        counts = follow(
            session.ledger, run_id, on_progress, until=lambda: worker.poll() is not None
        )
        stopped = worker.poll() is not None and not all_done(counts)
    return Followed(counts, stopped)
