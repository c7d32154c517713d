"""The repair of lost task messages against the suite's Redis: what it publishes, and what it
records. (tests/e2e/test_lost_tasks.py kills real commands and lets real workers repair them.)"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from distributie import states
from distributie.delivery.repair import ROUND, repair_lost_tasks
from distributie.ledger import Claim, Ledger
from tests.support.ledger import create_test_run


class Published:
    """What the repair handed to the broker, per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, int]]]] = []

    def __call__(self, run_id: str, items: Sequence[tuple[str, int]]) -> None:
        self.calls.append((run_id, list(items)))


def test_a_task_never_published_is_published_again_with_its_own_sequence_number(
    ledger: Ledger,
) -> None:
    create_test_run(ledger, count=1)
    ledger.cancel("run-1", "g1", "secretariaat")
    ledger.requeue("run-1", "g1", "secretariaat", None, "resend requested")  # seq 2, not published
    publish = Published()

    repaired = repair_lost_tasks(ledger, publish, waited=0, worker="host:1")

    assert repaired == 1
    assert publish.calls == [("run-1", [("g1", 2)])]
    # The claim accepts it: it carries the recipient's current sequence number.
    assert isinstance(ledger.claim("run-1", "g1", 2, "worker-a", 30), Claim)


def test_the_repair_is_in_the_history_and_the_log(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    create_test_run(ledger, count=1)

    with caplog.at_level(logging.WARNING, logger="distributie.delivery.repair"):
        repair_lost_tasks(ledger, Published(), waited=0, worker="host:1")

    [recipient] = ledger.status("run-1").recipients
    last = recipient.history[-1]
    assert (last["outcome"], last["worker"], last["state"]) == (
        states.OUTCOME_REPUBLISHED,
        "host:1",
        states.QUEUED,
    )
    assert "no task message was published for this recipient" in last["reply"]
    assert "DISTRIBUTIE_REQUEUE_AFTER" in last["reply"]
    [record] = caplog.records
    assert record.getMessage() == "republished a lost task message"
    assert {k: record.__dict__[k] for k in ("run", "gemeente", "seq")} == {
        "run": "run-1",
        "gemeente": "g1",
        "seq": 1,
    }


def test_published_tasks_and_recipients_that_moved_on_are_left_alone(ledger: Ledger) -> None:
    create_test_run(ledger, count=3)
    ledger.published("run-1", [("g1", 1)])
    assert isinstance(ledger.claim("run-1", "g2", 1, "worker-a", 30), Claim)
    publish = Published()

    repaired = repair_lost_tasks(ledger, publish, waited=0, worker="host:1")

    assert repaired == 1
    assert publish.calls == [("run-1", [("g3", 1)])]


def test_a_task_is_not_published_again_before_its_wait_is_over(ledger: Ledger) -> None:
    create_test_run(ledger, count=2)
    publish = Published()

    early = repair_lost_tasks(ledger, publish, waited=60, worker="host:1")
    repaired = repair_lost_tasks(ledger, publish, waited=0, worker="host:1")
    again = repair_lost_tasks(ledger, publish, waited=60, worker="host:1")

    assert (early, repaired, again) == (0, 2, 0)
    assert publish.calls == [("run-1", [("g1", 1), ("g2", 1)])]


def test_more_lost_tasks_than_one_round_are_all_repaired_in_one_call(ledger: Ledger) -> None:
    count = ROUND * 2 + 5
    create_test_run(ledger, count=count)
    publish = Published()

    repaired = repair_lost_tasks(ledger, publish, waited=0, worker="host:1")

    assert repaired == count
    assert sum(len(items) for _, items in publish.calls) == count
