"""The sending pipeline end to end: real Redis, real aiosmtpd server, real Celery workers.

Each test asserts on the ledger (what distributie says happened) and on the SMTP server (what
really happened), and the two must agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from distributie import states
from distributie.delivery import tasks
from distributie.errors import UsageError
from distributie.ledger import RecipientStatus
from distributie.operations import reports
from distributie.operations import runs as run_ops
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import (
    RunHandle,
    WorkerPool,
    start_run,
    wait_until_settled,
    write_recipients,
)


def _env(pool: WorkerPool, server: RecordingSMTPServer | None, **extra: str) -> dict[str, str]:
    env = dict(pool.env)
    if server is not None:
        env.update(server.environ(timeout=2))
    env.update(extra)
    return env


def _start(
    pool: WorkerPool,
    tmp_path: Path,
    server: RecordingSMTPServer | None,
    count: int,
    workers: int = 1,
    concurrency: int = 2,
    **extra: str,
) -> RunHandle:
    env = _env(pool, server, **extra)
    worker_env = {**(server.environ(timeout=2) if server else {}), **extra}
    for _ in range(workers):
        pool.start(concurrency=concurrency, **worker_env)
    return start_run(env, write_recipients(tmp_path / "list.csv", count))


def _recipient(handle: RunHandle, key: str) -> RecipientStatus:
    return handle.ledger.status(handle.run_id, [key]).recipients[0]


def test_every_recipient_is_sent_exactly_once(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, smtp_server, count=12)

    counts = wait_until_settled(handle.ledger, handle.run_id)

    assert counts[states.SENT] == 12
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 12
    status = handle.ledger.status(handle.run_id)
    received_ids = {m.message_id for m in smtp_server.messages}
    assert {r.message_id for r in status.recipients} == received_ids


def test_history_records_queue_claim_and_acceptance_with_reply(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, smtp_server, count=1)
    wait_until_settled(handle.ledger, handle.run_id)

    history = handle.ledger.status(handle.run_id).recipients[0].history

    assert [h["outcome"] for h in history] == ["queued", "claimed", "accepted"]
    assert [h["state"] for h in history] == ["queued", "sending", "sent"]
    assert history[-1]["code"] == 250
    assert all({"at", "worker", "outcome", "reply"} <= set(h) for h in history)


def test_events_stream_has_every_transition(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, smtp_server, count=3)
    wait_until_settled(handle.ledger, handle.run_id)

    events = handle.ledger.client.xrange(f"distributie:run:{handle.run_id}:events")
    transitions = [(e[b"from"].decode(), e[b"to"].decode()) for _, e in events if b"from" in e]

    assert transitions.count(("queued", "sending")) == 3
    assert transitions.count(("sending", "sent")) == 3


def test_transient_refusals_are_retried_until_sent(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.fail_rcpt("burgemeester@g0002.example", code=451, times=2)
    handle = _start(worker_pool, tmp_path, smtp_server, count=3)

    wait_until_settled(handle.ledger, handle.run_id)
    recipient = _recipient(handle, "gemeente-0002")

    assert recipient.state == states.SENT
    assert recipient.attempts == 3
    transient = [h for h in recipient.history if h["outcome"] == "transient"]
    assert [h["code"] for h in transient] == [451, 451]
    assert smtp_server.deliveries_by_address()["burgemeester@g0002.example"] == 1


def test_permanent_refusal_fails_once_and_leaves_the_rest_alone(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.refuse("burgemeester@g0003.example", 550, "5.1.1 Mailbox unavailable")
    handle = _start(worker_pool, tmp_path, smtp_server, count=5)

    counts = wait_until_settled(handle.ledger, handle.run_id)
    recipient = _recipient(handle, "gemeente-0003")

    assert counts[states.SENT] == 4
    assert recipient.state == states.FAILED
    assert recipient.attempts == 1
    assert recipient.last_reply.startswith("550")
    assert "Mailbox unavailable" in recipient.last_reply


def test_gives_up_after_max_attempts(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.fail_rcpt("burgemeester@g0001.example", code=452, times=None)
    handle = _start(worker_pool, tmp_path, smtp_server, count=1, DISTRIBUTIE_MAX_ATTEMPTS="3")

    wait_until_settled(handle.ledger, handle.run_id)
    recipient = _recipient(handle, "gemeente-0001")

    assert recipient.state == states.FAILED
    assert recipient.attempts == 3
    assert "gave up after 3 attempts" in recipient.last_reply


def test_connection_lost_after_end_of_data_is_unknown_and_never_retried(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.drop_after_data("burgemeester@g0001.example", times=1)
    handle = _start(worker_pool, tmp_path, smtp_server, count=2)

    wait_until_settled(handle.ledger, handle.run_id)
    time.sleep(1)  # room for a wrongful retry to show up
    recipient = _recipient(handle, "gemeente-0001")

    assert recipient.state == states.UNKNOWN
    assert recipient.attempts == 1
    assert smtp_server.deliveries_by_address()["burgemeester@g0001.example"] == 1


def test_untrusted_certificate_fails_at_once_with_the_verification_error(
    worker_pool: WorkerPool, smtp_untrusted_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, smtp_untrusted_server, count=1)

    wait_until_settled(handle.ledger, handle.run_id)
    recipient = _recipient(handle, "gemeente-0001")

    assert recipient.state == states.FAILED
    assert recipient.attempts == 1
    assert "certificate" in recipient.last_reply.lower()
    assert smtp_untrusted_server.messages == []


def test_starttls_with_auth_and_a_trusted_ca_file_delivers(
    worker_pool: WorkerPool, smtp_tls_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, smtp_tls_server, count=3)

    counts = wait_until_settled(handle.ledger, handle.run_id)

    assert counts[states.SENT] == 3
    assert len(smtp_tls_server.messages) == 3


def test_resend_delivers_once_more_with_a_new_message_id(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, smtp_server, count=2)
    wait_until_settled(handle.ledger, handle.run_id)

    requeue = run_ops.resend(handle.session, handle.run_id, "Gemeente 0001", None, "secretariaat")
    [(key, _)] = requeue.queued
    wait_until_settled(handle.ledger, handle.run_id)

    received = [m for m in smtp_server.messages if m.rcpt_tos == ("burgemeester@g0001.example",)]
    assert len(received) == 2
    assert received[0].message_id != received[1].message_id
    assert received[1].message_id is not None and ".1@" in received[1].message_id
    recipient = _recipient(handle, key)
    assert recipient.state == states.SENT
    assert any("resend requested by secretariaat" in h["reply"] for h in recipient.history)


def test_resend_to_a_corrected_address(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.refuse("burgemeester@g0001.example", 550)
    handle = _start(worker_pool, tmp_path, smtp_server, count=1)
    wait_until_settled(handle.ledger, handle.run_id)

    requeue = run_ops.resend(
        handle.session, handle.run_id, "gemeente 0001", "kabinet@g0001.example", "secretariaat"
    )
    [(key, _)] = requeue.queued
    wait_until_settled(handle.ledger, handle.run_id)

    recipient = _recipient(handle, key)
    assert recipient.state == states.SENT
    assert recipient.email == "kabinet@g0001.example"
    assert smtp_server.deliveries_by_address() == {"kabinet@g0001.example": 1}


def test_resend_of_a_recipient_still_pending_is_refused(
    redis_url: str, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    handle = start_run(worker_pool.env, write_recipients(tmp_path / "l.csv", 1))

    with pytest.raises(UsageError, match="still queued"):
        run_ops.resend(handle.session, handle.run_id, "Gemeente 0001", None, "secretariaat")


def test_retry_sends_failed_and_unknown_recipients_again(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.fail_rcpt("burgemeester@g0001.example", code=550, times=1)
    smtp_server.plan.drop_after_data("burgemeester@g0002.example", times=1)
    handle = _start(worker_pool, tmp_path, smtp_server, count=3)
    wait_until_settled(handle.ledger, handle.run_id)

    queued = run_ops.retry(handle.session, handle.run_id, "secretariaat").queued
    counts = wait_until_settled(handle.ledger, handle.run_id)

    assert sorted(k for k, _ in queued) == ["gemeente-0001", "gemeente-0002"]
    assert counts[states.SENT] == 3
    assert smtp_server.deliveries_by_address()["burgemeester@g0001.example"] == 1
    # The unknown one had reached the server: the explicit retry is its second copy.
    assert smtp_server.deliveries_by_address()["burgemeester@g0002.example"] == 2


def test_cancel_before_any_worker_runs_sends_nothing(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env = _env(worker_pool, smtp_server)
    handle = start_run(env, write_recipients(tmp_path / "l.csv", 4))

    result = run_ops.cancel(handle.session, handle.run_id, "secretariaat")
    worker_pool.start(**smtp_server.environ(timeout=2))
    time.sleep(3)

    assert (result.cancelled, result.finishing) == (4, 0)
    assert handle.ledger.counts(handle.run_id)[states.CANCELLED] == 4
    assert smtp_server.messages == []


def test_cancel_lets_the_attempt_in_progress_finish_without_retry(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.slow_reply_to_rcpt("burgemeester@g0001.example", seconds=1.5, times=1)
    handle = _start(worker_pool, tmp_path, smtp_server, count=6, concurrency=1)
    deadline = time.monotonic() + 20
    while handle.ledger.counts(handle.run_id)[states.SENDING] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    result = run_ops.cancel(handle.session, handle.run_id, "secretariaat")
    counts = wait_until_settled(handle.ledger, handle.run_id)

    assert result.finishing == 1
    assert counts[states.SENT] == 1
    assert counts[states.CANCELLED] == 5
    assert len(smtp_server.messages) == 1


def test_the_same_task_message_delivered_twice_sends_once(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env = _env(worker_pool, smtp_server)
    handle = start_run(env, write_recipients(tmp_path / "l.csv", 8))
    # Every recipient's task goes out three times, as a broker redelivery would do.
    for _ in range(2):
        tasks.enqueue(handle.run_id, [(k, 1) for k in handle.keys], 4)
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))

    counts = wait_until_settled(handle.ledger, handle.run_id)
    time.sleep(1)

    assert counts[states.SENT] == 8
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 8


def test_rate_limit_spaces_messages_across_workers(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(
        worker_pool, tmp_path, smtp_server, count=9, workers=2, DISTRIBUTIE_RATE_LIMIT="4/s"
    )

    wait_until_settled(handle.ledger, handle.run_id)
    arrivals = sorted(m.received_monotonic for m in smtp_server.messages)

    assert len(arrivals) == 9
    for i, start in enumerate(arrivals):
        in_window = [t for t in arrivals[i:] if t < start + 1.0]
        assert len(in_window) <= 4, arrivals
    # 9 messages at 4 per second, evenly spaced: at least 8 intervals of 0.25 s.
    assert arrivals[-1] - arrivals[0] >= 1.9


def test_daily_limit_holds_the_rest_until_the_next_day(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, smtp_server, count=5, DISTRIBUTIE_DAILY_LIMIT="3")
    deadline = time.monotonic() + 20
    while handle.ledger.counts(handle.run_id)[states.SENT] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1)

    status = handle.ledger.status(handle.run_id)
    waiting = [r for r in status.recipients if r.state == states.QUEUED]

    assert len(smtp_server.messages) == 3
    assert len(waiting) == 2
    assert all(r.waiting == "daily-limit" and r.not_before > time.time() for r in waiting)


def test_outbox_transport_writes_one_eml_per_recipient(
    worker_pool: WorkerPool, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, None, count=3)

    counts = wait_until_settled(handle.ledger, handle.run_id)

    files = sorted(p.name for p in (tmp_path / "outbox" / handle.run_id).iterdir())
    assert counts[states.SENT] == 3
    assert files == ["gemeente-0001.eml", "gemeente-0002.eml", "gemeente-0003.eml"]


def test_worker_killed_mid_run_sends_nobody_twice_and_leaves_nobody_stuck(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    # Slow replies keep sends in flight, so the kill lands in the middle of some of them.
    smtp_server.plan.random_faults(0.3, seed=7, kinds=("slow_after_data",), seconds=0.3)
    env = _env(worker_pool, smtp_server)
    handle = start_run(env, write_recipients(tmp_path / "l.csv", 40))
    victim = worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))
    deadline = time.monotonic() + 20
    while len(smtp_server.messages) < 8:
        assert time.monotonic() < deadline
        time.sleep(0.01)

    killed = worker_pool.pool_pids(victim)
    for pid in killed:
        signal_pid(pid)
    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=90)

    deliveries = smtp_server.deliveries_by_address()
    assert max(deliveries.values()) == 1
    assert counts[states.SENT] + counts[states.UNKNOWN] == 40
    assert counts[states.UNKNOWN] <= len(killed)
    assert set(deliveries) >= {
        r.email for r in handle.ledger.status(handle.run_id).recipients if r.state == "sent"
    }


def signal_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_status_json_has_the_public_shape(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(worker_pool, tmp_path, smtp_server, count=2)
    wait_until_settled(handle.ledger, handle.run_id)

    document = json.loads(json.dumps(reports.status_json(handle.ledger.status(handle.run_id))))

    assert {"run", "mailing", "created_at", "created_by", "recipients_sha256", "counts"} <= set(
        document
    )
    assert set(document["counts"]) == set(states.ALL_STATES)
    first = document["recipients"][0]
    assert {
        "gemeente",
        "email",
        "state",
        "attempts",
        "message_id",
        "last_reply",
        "updated_at",
        "history",
    } <= set(first)


def test_smtp_connections_are_capped_across_all_workers(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _start(
        worker_pool, tmp_path, smtp_server, count=20, workers=2,
        DISTRIBUTIE_SMTP_MAX_CONNECTIONS="1",
    )  # fmt: skip
    most = 0
    while any(handle.ledger.counts(handle.run_id)[s] for s in states.PENDING_STATES):
        most = max(most, smtp_server.open_connections)
        time.sleep(0.005)

    assert handle.ledger.counts(handle.run_id)[states.SENT] == 20
    assert most == 1
    assert smtp_server.connections >= 2  # handed over between processes, not one for all


def test_a_killed_pool_process_is_recovered_without_waiting_out_its_lease(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.slow_reply_to_rcpt("burgemeester@g0001.example", seconds=3, times=1)
    worker = worker_pool.start(
        concurrency=1, DISTRIBUTIE_SEND_LEASE="600", **smtp_server.environ(timeout=5)
    )
    handle = start_run(
        _env(worker_pool, smtp_server, DISTRIBUTIE_SEND_LEASE="600"),
        write_recipients(tmp_path / "list.csv", 1),
    )
    while handle.ledger.counts(handle.run_id)[states.SENDING] == 0:
        time.sleep(0.01)

    for pid in worker_pool.pool_pids(worker):
        signal_pid(pid)
    wait_until_settled(handle.ledger, handle.run_id, timeout=30)
    recipient = _recipient(handle, "gemeente-0001")

    assert recipient.state == states.SENT
    assert [h["outcome"] for h in recipient.history].count("worker-lost") == 1
    assert len(smtp_server.messages) == 1
