"""Run control through the operations layer: what is handed to the workers, and refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis

from distributie import states
from distributie.compose.checking import check_mailing
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.delivery import tasks
from distributie.errors import UsageError
from distributie.operations import control, runs
from distributie.operations.session import Session
from tests.support.workers import fast_settings_env, session_for, write_recipients


@pytest.fixture
def session(redis_url: str, tmp_path: Path) -> Session:
    return session_for(fast_settings_env(redis_url, tmp_path / "outbox"))


def _start(session: Session, tmp_path: Path, plan: runs.RunPlan) -> str:
    checked = check_mailing(BUNDLED_MAILING, write_recipients(tmp_path / "l.csv", 4), 10**7)
    return runs.start_run(session, checked, checked.recipients.recipients, "anna", plan)


def _queued_tasks(session: Session) -> int:
    return int(redis.Redis.from_url(session.redis_url).llen(tasks.QUEUE))


def test_a_run_that_needs_approval_queues_nothing_until_approved(
    session: Session, tmp_path: Path
) -> None:
    run_id = _start(session, tmp_path, runs.RunPlan(needs_approval=True))
    assert _queued_tasks(session) == 0

    done = control.approve(session, run_id, "bob")

    assert (done.state, done.handed_over) == (states.RUN_ACTIVE, 4)
    assert _queued_tasks(session) == 1


def test_approval_by_the_creator_is_a_usage_error(session: Session, tmp_path: Path) -> None:
    run_id = _start(session, tmp_path, runs.RunPlan(needs_approval=True))

    with pytest.raises(UsageError, match=r"anna created run .*someone else must approve it"):
        control.approve(session, run_id, "anna")
    assert _queued_tasks(session) == 0


def test_a_scheduled_run_queues_nothing_before_its_time(session: Session, tmp_path: Path) -> None:
    later = datetime.now().astimezone() + timedelta(hours=1)
    run_id = _start(session, tmp_path, runs.RunPlan(release_at=later))

    assert _queued_tasks(session) == 0
    assert session.ledger.status(run_id).run_state == states.RUN_SCHEDULED


def test_resume_of_a_run_that_is_not_paused_says_why(session: Session, tmp_path: Path) -> None:
    run_id = _start(session, tmp_path, runs.RunPlan())

    with pytest.raises(UsageError, match="is active: only a paused run can be resumed"):
        control.resume(session, run_id, "anna")


def test_a_test_run_goes_to_the_test_address_and_is_marked_as_a_test(
    session: Session, tmp_path: Path
) -> None:
    run_id = _start(session, tmp_path, runs.RunPlan(test_to="proef@secretariaat.example"))

    status = session.ledger.status(run_id)
    assert status.control.kind == states.RUN_KIND_TEST
    assert {r.email for r in status.recipients} == {"proef@secretariaat.example"}
