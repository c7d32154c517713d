"""Following a run until every recipient is done."""

from __future__ import annotations

import threading
import time

from distributie import states
from distributie.ledger import Ledger
from distributie.operations.follow import all_done, follow
from tests.support.ledger import create_test_run


def test_follow_reports_each_change_and_returns_when_everyone_is_done(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=2)
    seen: list[dict[str, int]] = []

    def cancel_one_by_one() -> None:
        for key in ("g1", "g2"):
            time.sleep(0.3)
            ledger.cancel(run_id, key, "test")

    thread = threading.Thread(target=cancel_one_by_one)
    thread.start()
    counts = follow(ledger, run_id, lambda c, total: seen.append(dict(c)), poll=0.05)
    thread.join()

    assert counts[states.CANCELLED] == 2
    assert [c[states.CANCELLED] for c in seen] == [0, 1, 2]
    assert all_done(counts)


def test_follow_stops_early_when_told_to(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=1)

    counts = follow(ledger, run_id, lambda c, total: None, poll=0.05, until=lambda: True)

    assert counts[states.QUEUED] == 1
    assert not all_done(counts)
