"""Task messages the ledger waits for. A command that queues recipients (a new run, a resend, a
retry) records their task messages as unpublished in the same step as the ledger change, and
confirms them (`published`) once the broker has them.

A command that stops in between (killed, a crash, the broker out of reach) leaves its entries
behind, and nothing else would ever send those recipients: workers only act on task messages.
The repair duty (delivery/repair.py) reads the entries older than DISTRIBUTIE_REQUEUE_AFTER
(never every recipient of every run: outside those few moments the set is empty) and publishes
each again with the same sequence number, so the claim still refuses every stale message.
Publishing twice is harmless (the claim refuses the second); never publishing is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis

from distributie.ledger.connection import text
from distributie.ledger.keys import (
    UNPUBLISHED,
    history_key,
    recipient_key_of,
    unpublished_member,
)
from distributie.ledger.scripts import Scripts

# Members per ZREM: one confirmation of a 50,000-recipient run stays a few round trips.
_CHUNK = 1000


@dataclass(frozen=True)
class UnpublishedTask:
    """One recipient's task message that was recorded but never confirmed as published."""

    run_id: str
    key: str
    seq: int
    queued_at: float  # when the ledger queued it (or a repair last took it), server time

    @property
    def member(self) -> str:
        return unpublished_member(self.run_id, self.key, self.seq)


def _parse(member: bytes | str, score: float) -> UnpublishedTask:
    run_id, key, seq = text(member).rsplit("/", 2)
    return UnpublishedTask(run_id, key, int(seq), float(score))


class Publishing:
    """Which task messages were published (part of `Ledger`)."""

    client: redis.Redis
    scripts: Scripts

    def published(self, run_id: str, items: Sequence[tuple[str, int]]) -> None:
        """The task messages of these (recipient key, seq) are with the broker."""
        members = [unpublished_member(run_id, key, seq) for key, seq in items]
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(members), _CHUNK):
            pipe.zrem(UNPUBLISHED, *members[start : start + _CHUNK])
        pipe.execute()

    def unpublished_tasks(self, waited: float, limit: int) -> list[UnpublishedTask]:
        """Up to `limit` task messages recorded at least `waited` seconds ago, oldest first."""
        seconds, microseconds = self.client.time()
        cutoff = seconds + microseconds / 1_000_000 - waited
        entries = cast(
            list[tuple[bytes, float]],
            self.client.zrangebyscore(
                UNPUBLISHED, "-inf", cutoff, start=0, num=limit, withscores=True
            ),
        )
        return [_parse(member, score) for member, score in entries]

    def take_unpublished(self, task: UnpublishedTask, waited: float) -> str:
        """'republish' when this caller must publish the task again now (the entry then waits
        another `waited` seconds, in case the caller stops too), 'obsolete' when the recipient
        moved on, 'early' when it is not due or another caller took it."""
        return text(
            self.scripts.take_unpublished(
                keys=[UNPUBLISHED, recipient_key_of(task.run_id, task.key)],
                args=[task.member, task.seq, waited],
            )
        )

    def record_republished(self, task: UnpublishedTask, worker: str, reply: str) -> None:
        """The task was published again: in the recipient's history, and no longer waited for."""
        self.scripts.republished(
            keys=[
                UNPUBLISHED,
                recipient_key_of(task.run_id, task.key),
                history_key(task.run_id, task.key),
            ],
            args=[task.member, worker, reply],
        )
