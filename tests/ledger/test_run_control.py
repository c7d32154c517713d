"""A run's own state in the ledger: approval, rejection, pause, resume and a scheduled release."""

from __future__ import annotations

import time
from pathlib import Path

from distributie import states
from distributie.compose.mailing import MailingBundle
from distributie.ledger import (
    Claim,
    ClaimRefused,
    Ledger,
    NewRecipient,
    NewRun,
    RunChanged,
    RunControlRefused,
)


def _run(ledger: Ledger, state: str, release_at: float | None = None, count: int = 3) -> str:
    run = NewRun(
        id="run-1",
        mailing="Test",
        mailing_dir="/tmp",
        recipients_path=str(Path("list.csv")),
        recipients_sha256="abc",
        created_by="anna",
        transport="outbox",
        state=state,
        release_at=release_at,
        approval_required=state == states.RUN_AWAITING_APPROVAL,
    )
    ledger.create_run(
        run,
        MailingBundle({"mailing.toml": b"name = 'x'"}),
        [
            NewRecipient(f"g{n}", f"G{n}", f"b@g{n}.example", {"row": n, "fields": {}})
            for n in (1, 2, 3)
        ][:count],
        lambda key, resend: f"<run-1.{key}.{resend}@x.example>",
    )
    return "run-1"


def _history(ledger: Ledger, key: str) -> list[str]:
    return [h["outcome"] for h in ledger.status("run-1", [key]).recipients[0].history]


def test_the_creator_cannot_approve_their_own_run(ledger: Ledger) -> None:
    run_id = _run(ledger, states.RUN_AWAITING_APPROVAL)

    result = ledger.control_run(run_id, states.OUTCOME_APPROVED, "anna")

    assert result == RunControlRefused("same_person", states.RUN_AWAITING_APPROVAL)
    assert ledger.run_control(run_id).stored_state == states.RUN_AWAITING_APPROVAL


def test_approval_by_someone_else_hands_every_recipient_over_and_records_who(
    ledger: Ledger,
) -> None:
    run_id = _run(ledger, states.RUN_AWAITING_APPROVAL)

    result = ledger.control_run(run_id, states.OUTCOME_APPROVED, "bob")

    assert result == RunChanged(states.RUN_ACTIVE, [("g1", 1), ("g2", 1), ("g3", 1)])
    control = ledger.run_control(run_id)
    assert control.approved_by == "bob"
    assert control.approved_at is not None
    assert _history(ledger, "g1") == [states.OUTCOME_QUEUED, states.OUTCOME_APPROVED]


def test_a_task_of_a_run_awaiting_approval_is_held(ledger: Ledger) -> None:
    run_id = _run(ledger, states.RUN_AWAITING_APPROVAL)

    got = ledger.claim(run_id, "g1", 1, "w:1", lease=30)

    assert got == ClaimRefused("held", states.RUN_AWAITING_APPROVAL)


def test_approval_before_the_scheduled_time_leaves_the_run_scheduled(ledger: Ledger) -> None:
    run_id = _run(ledger, states.RUN_AWAITING_APPROVAL, release_at=time.time() + 60)

    result = ledger.control_run(run_id, states.OUTCOME_APPROVED, "bob")

    assert result == RunChanged(states.RUN_SCHEDULED, [])
    assert ledger.due_runs(time.time() + 61) == [run_id]


def test_a_scheduled_run_is_released_once_and_only_when_due(ledger: Ledger) -> None:
    run_id = _run(ledger, states.RUN_SCHEDULED, release_at=time.time() + 0.3)

    early = ledger.control_run(run_id, states.OUTCOME_RELEASED, "w:1")
    time.sleep(0.4)
    first = ledger.control_run(run_id, states.OUTCOME_RELEASED, "w:1")
    second = ledger.control_run(run_id, states.OUTCOME_RELEASED, "w:2")

    assert isinstance(early, RunControlRefused) and early.reason == "early"
    assert isinstance(first, RunChanged) and len(first.to_send) == 3
    assert second == RunControlRefused("refused", states.RUN_ACTIVE)
    assert ledger.due_runs(time.time()) == []
    control = ledger.run_control(run_id)
    assert control.release_delay is not None and 0 <= control.release_delay < 1


def test_rejection_cancels_every_recipient_and_finishes_the_run(ledger: Ledger) -> None:
    run_id = _run(ledger, states.RUN_SCHEDULED, release_at=time.time() + 60)

    result = ledger.control_run(run_id, states.OUTCOME_REJECTED, "bob")

    status = ledger.status(run_id)
    assert result == RunChanged(states.RUN_FINISHED, [])
    assert status.counts[states.CANCELLED] == 3
    assert status.run_state == states.RUN_FINISHED
    assert ledger.due_runs(time.time() + 61) == []


def test_a_paused_run_starts_no_attempt_and_resume_hands_back_the_waiting(
    ledger: Ledger,
) -> None:
    run_id = _run(ledger, states.RUN_ACTIVE)
    sending = ledger.claim(run_id, "g1", 1, "w:1", lease=30)
    assert isinstance(sending, Claim)

    paused = ledger.control_run(run_id, states.OUTCOME_PAUSED, "anna")
    held = ledger.claim(run_id, "g2", 1, "w:1", lease=30)
    resumed = ledger.control_run(run_id, states.OUTCOME_RESUMED, "anna")

    assert paused == RunChanged(states.RUN_PAUSED, [])
    assert held == ClaimRefused("held", states.RUN_PAUSED)
    # The one being sent goes back too: if its worker died meanwhile, the claim decides it.
    assert resumed == RunChanged(states.RUN_ACTIVE, [("g1", 1), ("g2", 1), ("g3", 1)])
    assert states.OUTCOME_PAUSED in _history(ledger, "g2")
    assert states.OUTCOME_RESUMED in _history(ledger, "g2")


def test_pause_is_refused_for_a_run_that_is_not_active(ledger: Ledger) -> None:
    run_id = _run(ledger, states.RUN_SCHEDULED, release_at=time.time() + 60)

    assert ledger.control_run(run_id, states.OUTCOME_PAUSED, "anna") == RunControlRefused(
        "refused", states.RUN_SCHEDULED
    )
    assert ledger.control_run(run_id, states.OUTCOME_RESUMED, "anna") == RunControlRefused(
        "refused", states.RUN_SCHEDULED
    )


def test_an_active_run_with_everyone_done_is_finished(ledger: Ledger) -> None:
    run_id = _run(ledger, states.RUN_ACTIVE, count=1)
    assert ledger.status(run_id).run_state == states.RUN_ACTIVE

    ledger.cancel(run_id, "g1", "anna")

    assert ledger.status(run_id).run_state == states.RUN_FINISHED


def test_a_scheduled_run_with_everyone_cancelled_is_finished_and_releases_nothing(
    ledger: Ledger,
) -> None:
    run_id = _run(ledger, states.RUN_SCHEDULED, release_at=time.time() + 0.2, count=2)
    for key in ("g1", "g2"):
        ledger.cancel(run_id, key, "anna")
    finished = ledger.status(run_id).run_state
    time.sleep(0.3)

    released = ledger.control_run(run_id, states.OUTCOME_RELEASED, "worker")

    assert finished == states.RUN_FINISHED
    assert isinstance(released, RunChanged) and released.to_send == []
    assert ledger.status(run_id).run_state == states.RUN_FINISHED


def test_recipients_handed_over_count_as_unpublished_until_their_enqueue_is_confirmed(
    ledger: Ledger,
) -> None:
    run_id = _run(ledger, states.RUN_AWAITING_APPROVAL)
    assert ledger.unpublished_tasks(waited=0, limit=10) == []

    result = ledger.control_run(run_id, states.OUTCOME_APPROVED, "bob")
    waiting = ledger.unpublished_tasks(waited=0, limit=10)
    assert isinstance(result, RunChanged)
    ledger.published(run_id, result.to_send)

    assert sorted((t.key, t.seq) for t in waiting) == [("g1", 1), ("g2", 1), ("g3", 1)]
    assert ledger.unpublished_tasks(waited=0, limit=10) == []
