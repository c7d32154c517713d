"""Unpublished task messages in the ledger: recorded with the change that queues a recipient,
confirmed by the command that publishes them, and taken by one repair at a time."""

from __future__ import annotations

import json
import time

from distributie import states
from distributie.ledger import Claim, Ledger, Requeued, UnpublishedTask
from distributie.ledger.keys import UNPUBLISHED
from tests.support.ledger import create_test_run


def _entries(ledger: Ledger) -> list[str]:
    return sorted(m.decode() for m in ledger.client.zrange(UNPUBLISHED, 0, -1))


def _due(ledger: Ledger) -> list[UnpublishedTask]:
    return ledger.unpublished_tasks(waited=0, limit=100)


def test_a_new_run_records_every_task_unpublished_until_confirmed(ledger: Ledger) -> None:
    create_test_run(ledger, count=3)
    recorded = _entries(ledger)

    ledger.published("run-1", [("g1", 1), ("g2", 1)])

    assert recorded == ["run-1/g1/1", "run-1/g2/1", "run-1/g3/1"]
    assert _entries(ledger) == ["run-1/g3/1"]


def test_a_requeue_records_its_new_sequence_number_unpublished(ledger: Ledger) -> None:
    create_test_run(ledger, count=1)
    ledger.published("run-1", [("g1", 1)])
    ledger.cancel("run-1", "g1", "secretariaat")

    requeued = ledger.requeue("run-1", "g1", "secretariaat", None, "resend requested")

    assert requeued == Requeued(2)
    assert _entries(ledger) == ["run-1/g1/2"]


def test_only_tasks_recorded_long_enough_ago_are_due(ledger: Ledger) -> None:
    create_test_run(ledger, count=1)

    assert ledger.unpublished_tasks(waited=60, limit=100) == []
    [task] = _due(ledger)
    assert (task.run_id, task.key, task.seq) == ("run-1", "g1", 1)
    assert abs(task.queued_at - time.time()) < 5


def test_a_due_task_is_taken_by_one_repair_at_a_time(ledger: Ledger) -> None:
    create_test_run(ledger, count=1)
    [task] = _due(ledger)

    first = ledger.take_unpublished(task, waited=0)
    # Taking it starts its wait anew: another repair (or this one, stopped before publishing)
    # gets it again only after another period.
    second = ledger.take_unpublished(task, waited=0.5)

    assert (first, second) == ("republish", "early")
    assert _entries(ledger) == ["run-1/g1/1"]  # until the repair records it, it stays


def test_a_recipient_that_moved_on_is_obsolete_and_forgotten(ledger: Ledger) -> None:
    create_test_run(ledger, count=2)
    [claimed, cancelled] = _due(ledger)
    assert isinstance(ledger.claim("run-1", "g1", 1, "worker-a", 30), Claim)
    ledger.cancel("run-1", "g2", "secretariaat")

    verdicts = [ledger.take_unpublished(t, waited=0) for t in (claimed, cancelled)]

    assert verdicts == ["obsolete", "obsolete"]
    assert _entries(ledger) == []


def test_a_republished_task_is_in_the_history_and_no_longer_waited_for(ledger: Ledger) -> None:
    create_test_run(ledger, count=1)
    [task] = _due(ledger)
    ledger.take_unpublished(task, waited=0)

    ledger.record_republished(task, "host:1", "published again")

    history = [
        json.loads(h) for h in ledger.client.lrange("distributie:run:run-1:r:g1:history", 0, -1)
    ]
    assert history[-1]["outcome"] == states.OUTCOME_REPUBLISHED
    assert (history[-1]["worker"], history[-1]["reply"]) == ("host:1", "published again")
    assert history[-1]["state"] == states.QUEUED
    assert _entries(ledger) == []
