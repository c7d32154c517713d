"""Starting, resending, retrying and cancelling runs through the operations layer, against the
suite's Redis (no worker: these tests look at the ledger and the queue)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from distributie import states
from distributie.compose.checking import CheckedMailing, check_mailing
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.delivery import tasks
from distributie.errors import UsageError
from distributie.ledger import Claim
from distributie.operations import runs
from distributie.operations.session import Session
from tests.support.workers import fast_settings_env, session_for, write_recipients


@pytest.fixture
def session(redis_url: str, tmp_path: Path) -> Session:
    return session_for(fast_settings_env(redis_url, tmp_path / "outbox"))


def _checked(tmp_path: Path, count: int = 3) -> CheckedMailing:
    return check_mailing(BUNDLED_MAILING, write_recipients(tmp_path / "l.csv", count), 10**7)


def _queue_length(session: Session) -> int:
    return int(redis.Redis.from_url(session.redis_url).llen(tasks.QUEUE))


def _finish_as(session: Session, run_id: str, key: str, state: str) -> None:
    claim = session.ledger.claim(run_id, key, 1, "test:1", lease=30)
    assert isinstance(claim, Claim), claim
    session.ledger.finish(
        run_id, key, claim.claim, "test:1",
        outcome="test", state=state, reply="set by the test", code=None, message_id="",
    )  # fmt: skip


def test_start_run_stores_every_recipient_queued_and_queues_them(
    session: Session, tmp_path: Path
) -> None:
    checked = _checked(tmp_path, count=12)

    run_id = runs.start_run(session, checked, checked.recipients.recipients, "secretariaat")

    status = session.ledger.status(run_id)
    assert status.counts[states.QUEUED] == 12
    assert status.created_by == "secretariaat"
    assert status.recipients[0].message_id == (
        f"<{run_id}.gemeente-0001.0@veiligheidscollege-mn.example>"
    )
    assert _queue_length(session) == 3  # batches of DISTRIBUTIE_BATCH_SIZE=5


def test_require_run_without_a_run_id_is_the_latest(session: Session, tmp_path: Path) -> None:
    checked = _checked(tmp_path)
    runs.create_run(session.ledger, checked, checked.recipients.recipients, "a", "outbox")
    latest = runs.create_run(session.ledger, checked, checked.recipients.recipients, "b", "x")

    assert runs.require_run(session.ledger, None) == latest


def test_require_run_names_what_is_missing(session: Session) -> None:
    with pytest.raises(UsageError, match="there are no runs yet"):
        runs.require_run(session.ledger, None)
    with pytest.raises(UsageError, match="there is no run 'nope'"):
        runs.require_run(session.ledger, "nope")


def test_resend_of_a_sent_recipient_queues_it_with_the_next_sequence_number(
    session: Session, tmp_path: Path
) -> None:
    checked = _checked(tmp_path)
    run_id = runs.create_run(session.ledger, checked, checked.recipients.recipients, "a", "x")
    _finish_as(session, run_id, "gemeente-0002", states.SENT)

    requeue = runs.resend(session, run_id, "Gemeente 0002", "kabinet@g2.example", "secretariaat")

    recipient = session.ledger.status(run_id, ["gemeente-0002"]).recipients[0]
    assert requeue.queued == [("gemeente-0002", 2)]
    assert recipient.state == states.QUEUED
    assert recipient.email == "kabinet@g2.example"
    assert _queue_length(session) == 1


def test_resend_of_a_recipient_still_queued_is_refused(session: Session, tmp_path: Path) -> None:
    checked = _checked(tmp_path)
    run_id = runs.create_run(session.ledger, checked, checked.recipients.recipients, "a", "x")

    with pytest.raises(UsageError, match="still queued"):
        runs.resend(session, run_id, "Gemeente 0001", None, "secretariaat")
    assert _queue_length(session) == 0


def test_resend_of_a_gemeente_not_in_the_run_is_refused(session: Session, tmp_path: Path) -> None:
    checked = _checked(tmp_path)
    run_id = runs.create_run(session.ledger, checked, checked.recipients.recipients, "a", "x")

    with pytest.raises(UsageError, match="has no recipient 'Atlantis'"):
        runs.resend(session, run_id, "Atlantis", None, "secretariaat")


def test_a_corrected_address_is_checked_before_anything_happens() -> None:
    with pytest.raises(UsageError, match="--to 'kabinet@' is not a valid e-mail address"):
        runs.valid_address("kabinet@")
    assert runs.valid_address("Kabinet@Bünnik.example") == "Kabinet@xn--bnnik-kva.example"


def test_retry_queues_the_failed_and_unknown_and_nothing_else(
    session: Session, tmp_path: Path
) -> None:
    checked = _checked(tmp_path, count=4)
    run_id = runs.create_run(session.ledger, checked, checked.recipients.recipients, "a", "x")
    _finish_as(session, run_id, "gemeente-0001", states.FAILED)
    _finish_as(session, run_id, "gemeente-0002", states.UNKNOWN)
    _finish_as(session, run_id, "gemeente-0003", states.SENT)

    requeue = runs.retry(session, run_id, "secretariaat")

    assert sorted(k for k, _ in requeue.queued) == ["gemeente-0001", "gemeente-0002"]
    assert _queue_length(session) == 1


def test_cancel_stops_the_queued_and_counts_those_being_sent(
    session: Session, tmp_path: Path
) -> None:
    checked = _checked(tmp_path, count=3)
    run_id = runs.create_run(session.ledger, checked, checked.recipients.recipients, "a", "x")
    session.ledger.claim(run_id, "gemeente-0001", 1, "test:1", lease=30)

    result = runs.cancel(session, run_id, "secretariaat")

    assert (result.cancelled, result.finishing) == (2, 1)
    assert session.ledger.counts(run_id)[states.CANCELLED] == 2
