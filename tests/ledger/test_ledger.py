"""The ledger's transitions, one by one, against a real Redis: what a task may do, and when."""

from __future__ import annotations

import time

import pytest

from distributie import states
from distributie.ledger import (
    Claim,
    ClaimRefused,
    Ledger,
    Requeued,
    RequeueRefused,
)
from distributie.settings import RateLimit
from tests.support.ledger import create_test_run

LEASE = 30.0


def _run(ledger: Ledger, count: int = 2) -> str:
    return create_test_run(ledger, count)


def _claim(ledger: Ledger, key: str = "g1", seq: int = 1, lease: float = LEASE) -> Claim:
    got = ledger.claim("run-1", key, seq, "worker-a", lease)
    assert isinstance(got, Claim), got
    return got


def _state(ledger: Ledger, key: str = "g1") -> str:
    return ledger.status("run-1", [key]).recipients[0].state


def _finish(ledger: Ledger, claim: Claim, state: str, key: str = "g1", delay: float = 0) -> str:
    outcome = {"sent": "accepted", "retrying": "transient", "failed": "permanent"}.get(state, state)
    return ledger.finish(
        "run-1", key, claim.claim, "worker-a", outcome=outcome, state=state,
        reply="250 ok", code=250, message_id="<m>", retry_delay=delay,
    )  # fmt: skip


def test_a_new_run_has_every_recipient_queued_and_counted(ledger: Ledger) -> None:
    _run(ledger, 3)

    assert ledger.counts("run-1")[states.QUEUED] == 3
    assert ledger.recipient_keys("run-1") == ["g1", "g2", "g3"]


def test_claim_makes_the_recipient_sending_and_returns_its_data(ledger: Ledger) -> None:
    _run(ledger)

    claim = _claim(ledger)

    assert _state(ledger) == states.SENDING
    assert claim.email == "b@g1.example"
    assert claim.data == {"row": 2, "fields": {}}
    assert claim.tries == 1
    assert ledger.counts("run-1")[states.SENDING] == 1


def test_a_second_claim_while_the_lease_lives_is_busy(ledger: Ledger) -> None:
    _run(ledger)
    _claim(ledger)

    got = ledger.claim("run-1", "g1", 1, "worker-b", LEASE)

    assert isinstance(got, ClaimRefused)
    assert got.reason == "busy"
    assert got.until is not None and got.until > time.time()


def test_a_claim_of_a_sent_recipient_is_done(ledger: Ledger) -> None:
    _run(ledger)
    _finish(ledger, _claim(ledger), states.SENT)

    got = ledger.claim("run-1", "g1", 1, "worker-b", LEASE)

    assert got == ClaimRefused("done", states.SENT)


def test_an_old_task_message_is_stale_after_a_retry_was_scheduled(ledger: Ledger) -> None:
    _run(ledger)
    _finish(ledger, _claim(ledger), states.RETRYING)

    got = ledger.claim("run-1", "g1", 1, "worker-b", LEASE)

    assert got == ClaimRefused("stale", states.RETRYING)


def test_a_retry_arriving_early_is_told_when(ledger: Ledger) -> None:
    _run(ledger)
    _finish(ledger, _claim(ledger), states.RETRYING, delay=30)

    got = ledger.claim("run-1", "g1", 2, "worker-b", LEASE)

    assert isinstance(got, ClaimRefused)
    assert got.reason == "early"
    assert got.until is not None and got.until > time.time() + 20


def test_an_expired_claim_before_end_of_data_is_taken_over(ledger: Ledger) -> None:
    _run(ledger)
    _claim(ledger, lease=0.05)
    time.sleep(0.1)

    takeover = ledger.claim("run-1", "g1", 1, "worker-b", LEASE)
    history = ledger.status("run-1", ["g1"]).recipients[0].history

    assert isinstance(takeover, Claim)
    assert takeover.tries == 2
    assert [h["outcome"] for h in history][-2:] == ["worker-lost", "claimed"]
    assert "before the end of DATA" in history[-2]["reply"]


def test_an_expired_claim_after_end_of_data_becomes_unknown(ledger: Ledger) -> None:
    _run(ledger)
    claim = _claim(ledger, lease=0.05)
    assert ledger.mark_end_of_data("run-1", "g1", claim.claim, extra_lease=0.05) == 0
    time.sleep(0.1)

    got = ledger.claim("run-1", "g1", 1, "worker-b", LEASE)

    assert got == ClaimRefused("done", states.UNKNOWN, decided_for="worker-a")
    assert _state(ledger) == states.UNKNOWN


def test_end_of_data_cannot_be_marked_by_a_claim_that_was_taken_over(ledger: Ledger) -> None:
    _run(ledger)
    first = _claim(ledger, lease=0.05)
    time.sleep(0.1)
    _claim(ledger)

    assert ledger.mark_end_of_data("run-1", "g1", first.claim, extra_lease=10) is None


def test_a_late_outcome_of_a_taken_over_claim_is_ignored_but_kept(ledger: Ledger) -> None:
    _run(ledger)
    first = _claim(ledger, lease=0.05)
    time.sleep(0.1)
    second = _claim(ledger)

    _finish(ledger, first, states.FAILED)

    assert _state(ledger) == states.SENDING
    assert ledger.status("run-1", ["g1"]).recipients[0].history[-1]["outcome"] == "late"
    assert _finish(ledger, second, states.SENT) == states.SENT


def test_the_real_reply_corrects_an_unknown_declared_during_the_wait(ledger: Ledger) -> None:
    _run(ledger)
    claim = _claim(ledger, lease=0.05)
    ledger.mark_end_of_data("run-1", "g1", claim.claim, extra_lease=0.05)
    time.sleep(0.1)
    ledger.claim("run-1", "g1", 1, "worker-b", LEASE)  # declares it unknown

    assert _finish(ledger, claim, states.SENT) == states.SENT


def test_cancel_turns_queued_into_cancelled(ledger: Ledger) -> None:
    _run(ledger)

    assert ledger.cancel("run-1", "g1", "secretariaat") == "cancelled"
    assert ledger.claim("run-1", "g1", 1, "worker-a", LEASE) == ClaimRefused(
        "done", states.CANCELLED
    )


def test_cancel_while_sending_lets_the_attempt_finish_but_not_retry(ledger: Ledger) -> None:
    _run(ledger)
    claim = _claim(ledger)

    assert ledger.cancel("run-1", "g1", "secretariaat") == "finishing"
    assert _finish(ledger, claim, states.RETRYING) == states.CANCELLED


def test_requeue_of_a_finished_recipient_gives_a_new_sequence_and_resend(ledger: Ledger) -> None:
    _run(ledger)
    _finish(ledger, _claim(ledger), states.SENT)

    requeued = ledger.requeue("run-1", "g1", "secretariaat", "new@g1.example", "resend")
    assert isinstance(requeued, Requeued)
    claim = ledger.claim("run-1", "g1", requeued.seq, "worker-a", LEASE)

    assert requeued.seq == 2
    assert isinstance(claim, Claim)
    assert claim.resend == 1
    assert claim.email == "new@g1.example"
    assert claim.tries == 1


def test_requeue_of_a_pending_recipient_is_refused(ledger: Ledger) -> None:
    _run(ledger)

    assert ledger.requeue("run-1", "g1", "secretariaat", None, "resend") == RequeueRefused(
        "pending", "queued"
    )


def test_counts_always_add_up_to_the_total(ledger: Ledger) -> None:
    _run(ledger, 4)
    _finish(ledger, _claim(ledger, "g1"), states.SENT, "g1")
    _finish(ledger, _claim(ledger, "g2"), states.FAILED, "g2")
    _finish(ledger, _claim(ledger, "g3"), states.RETRYING, "g3")
    ledger.cancel("run-1", "g4", "x")

    counts = ledger.counts("run-1")

    assert sum(counts.values()) == 4
    assert (counts["sent"], counts["failed"], counts["retrying"], counts["cancelled"]) == (
        1,
        1,
        1,
        1,
    )


def test_rate_slots_are_evenly_spaced_from_the_first(ledger: Ledger) -> None:
    _run(ledger, 3)
    rate = RateLimit(2, 1.0)  # spaced (1 s + 0.25 s margin) / 2

    waits = []
    for key in ("g1", "g2", "g3"):
        got = ledger.claim("run-1", key, 1, "w", LEASE, rate)
        assert isinstance(got, Claim)
        waits.append(got.wait)

    assert waits[0] == pytest.approx(0, abs=0.05)
    assert waits[1] == pytest.approx(0.625, abs=0.05)
    assert waits[2] == pytest.approx(1.25, abs=0.05)


def test_end_of_data_waits_while_the_rate_window_is_full(ledger: Ledger) -> None:
    _run(ledger, 3)
    rate = RateLimit(2, 1.0)
    claims = [_claim(ledger, key) for key in ("g1", "g2", "g3")]

    first = ledger.mark_end_of_data("run-1", "g1", claims[0].claim, 30, rate)
    second = ledger.mark_end_of_data("run-1", "g2", claims[1].claim, 30, rate)
    third = ledger.mark_end_of_data("run-1", "g3", claims[2].claim, 30, rate)

    assert (first, second) == (0.0, 0.0)
    # Two went out just now: the third may go once the first leaves the window, plus margin.
    assert third == pytest.approx(1.25, abs=0.05)
    assert ledger.status("run-1", ["g3"]).recipients[0].history[-1]["outcome"] == "claimed"


def test_daily_limit_defers_to_the_next_day(ledger: Ledger) -> None:
    _run(ledger, 2)
    assert isinstance(ledger.claim("run-1", "g1", 1, "w", LEASE, daily_limit=1), Claim)

    got = ledger.claim("run-1", "g2", 1, "w", LEASE, daily_limit=1)

    assert isinstance(got, ClaimRefused)
    assert got.reason == "early"
    assert got.until is not None and got.until > time.time()
    assert ledger.status("run-1", ["g2"]).recipients[0].waiting == "daily-limit"
