"""The repair of lost task messages: a duty (duties.py) that publishes again the task of every
recipient a command queued in the ledger but never handed to the broker.

`distributie send`, `resend` and `retry` first change the ledger, then publish task messages. A
command killed in between leaves recipients `queued` that no worker will ever hear of. The ledger
records such tasks as unpublished until the command confirms them (ledger/publishing.py); here
every entry older than DISTRIBUTIE_REQUEUE_AFTER is published again with its own sequence number,
recorded in the recipient's history and logged. A duplicate is harmless: the claim refuses it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from distributie.ledger import Ledger, UnpublishedTask

log = logging.getLogger(__name__)

# Entries taken per round; a round repeats until none is due (taken entries are not due again
# for another DISTRIBUTIE_REQUEUE_AFTER).
ROUND = 1000

Publish = Callable[[str, Sequence[tuple[str, int]]], object]  # run, [(key, seq)]


def repair_lost_tasks(ledger: Ledger, publish: Publish, waited: float, worker: str) -> int:
    """Publish again every task that was never published after `waited` seconds; the count."""
    repaired = 0
    while True:
        due = ledger.unpublished_tasks(waited, ROUND)
        taken = [task for task in due if ledger.take_unpublished(task, waited) == "republish"]
        by_run: dict[str, list[UnpublishedTask]] = {}
        for task in taken:
            by_run.setdefault(task.run_id, []).append(task)
        for run_id, tasks in by_run.items():
            publish(run_id, [(task.key, task.seq) for task in tasks])
            for task in tasks:
                _record(ledger, task, worker, waited)
        repaired += len(taken)
        if len(due) < ROUND:
            return repaired


def _record(ledger: Ledger, task: UnpublishedTask, worker: str, waited: float) -> None:
    queued = dt.datetime.fromtimestamp(task.queued_at, dt.UTC).isoformat(timespec="seconds")
    reply = (
        f"no task message was published for this recipient (queued {queued} UTC, sequence "
        f"{task.seq}; the command that queued it stopped before handing it to the workers): "
        f"published again after {waited:g} s (DISTRIBUTIE_REQUEUE_AFTER)"
    )
    ledger.record_republished(task, worker, reply)
    log.warning(
        "republished a lost task message",
        extra={"run": task.run_id, "gemeente": task.key, "seq": task.seq, "queued_at": queued},
    )
