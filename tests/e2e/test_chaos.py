"""Faults, crashes and races: proof that nothing is lost or sent twice.

Every test asserts on the ledger and on the SMTP server. Each runs in a short version by default
and a long one under the `chaos` marker (`make chaos`).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from distributie import states
from distributie.delivery import tasks
from distributie.operations import runs as run_ops
from tests.support.redis import TestRedis
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import (
    RunHandle,
    WorkerPool,
    start_run,
    wait_until_settled,
    write_recipients,
)

SHORT = pytest.param(1, id="short")
FULL = pytest.param(5, id="full", marks=pytest.mark.chaos)
SEEDS_SHORT = [pytest.param(seed, id=f"short-seed{seed}") for seed in (1,)]
SEEDS_FULL = [
    pytest.param(seed, id=f"full-seed{seed}", marks=pytest.mark.chaos) for seed in (11, 12, 13)
]


def _run(
    pool: WorkerPool,
    server: RecordingSMTPServer,
    tmp_path: Path,
    count: int,
    **extra: str,
) -> RunHandle:
    env = {**pool.env, **server.environ(timeout=2), **extra}
    return start_run(env, write_recipients(tmp_path / "list.csv", count))


def _workers(pool: WorkerPool, server: RecordingSMTPServer, n: int = 2, **extra: str) -> None:
    for _ in range(n):
        pool.start(concurrency=2, **server.environ(timeout=2), **extra)


def _assert_at_most_once(server: RecordingSMTPServer) -> Counter[str]:
    deliveries = server.deliveries_by_address()
    twice = {address: n for address, n in deliveries.items() if n > 1}
    assert twice == {}, f"accepted more than once: {twice}"
    return deliveries


@pytest.mark.parametrize("scale", [SHORT, FULL])
def test_transient_faults_on_a_large_share_of_attempts_end_all_sent_once(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path, scale: int
) -> None:
    count = 60 * scale
    # 25 % per stage (RCPT, end of DATA): about 44 % of attempts fail.
    smtp_server.plan.random_transient(0.25, seed=scale, code=451)
    _workers(worker_pool, smtp_server, DISTRIBUTIE_MAX_ATTEMPTS="25")
    handle = _run(worker_pool, smtp_server, tmp_path, count, DISTRIBUTIE_MAX_ATTEMPTS="25")

    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=120 * scale)
    status = handle.ledger.status(handle.run_id)

    assert counts[states.SENT] == count
    assert sorted(_assert_at_most_once(smtp_server).values()) == [1] * count
    fired = smtp_server.plan.fired_count()
    assert fired > count // 3
    transient_entries = 0
    for recipient in status.recipients:
        outcomes = [h["outcome"] for h in recipient.history if h["outcome"] != "claimed"]
        transient = [h for h in recipient.history if h["outcome"] == "transient"]
        transient_entries += len(transient)
        assert recipient.attempts == len(transient) + 1
        assert outcomes[-1] == "accepted"
        assert all(h["code"] == 451 for h in transient)
    # Every fault the server fired is an attempt in some recipient's history.
    assert transient_entries == fired


@pytest.mark.parametrize("scale", [SHORT, FULL])
def test_permanent_refusals_fail_at_once_and_the_rest_is_sent(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path, scale: int
) -> None:
    count = 30 * scale
    refused = {f"burgemeester@g{n:04d}.example" for n in range(3, count + 1, 7)}
    for address in refused:
        smtp_server.plan.refuse(address, 550, "5.1.1 Mailbox unavailable")
    _workers(worker_pool, smtp_server)
    handle = _run(worker_pool, smtp_server, tmp_path, count)

    wait_until_settled(handle.ledger, handle.run_id, timeout=60 * scale)
    status = handle.ledger.status(handle.run_id)

    for recipient in status.recipients:
        if recipient.email in refused:
            assert recipient.state == states.FAILED
            assert recipient.attempts == 1
            assert recipient.last_reply == "550 5.1.1 Mailbox unavailable"
        else:
            assert recipient.state == states.SENT
    assert (
        set(smtp_server.deliveries_by_address()) == {r.email for r in status.recipients} - refused
    )


def test_slow_server_timeout_before_end_of_data_is_retried_after_is_unknown(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.slow_reply_to_rcpt("burgemeester@g0001.example", seconds=3.5, times=1)
    smtp_server.plan.slow_reply_after_data("burgemeester@g0002.example", seconds=3.5, times=1)
    _workers(worker_pool, smtp_server, n=1)
    handle = _run(worker_pool, smtp_server, tmp_path, 3)

    wait_until_settled(handle.ledger, handle.run_id)
    time.sleep(1)  # room for a wrongful retry to show up
    status = {r.key: r for r in handle.ledger.status(handle.run_id).recipients}

    before, after = status["gemeente-0001"], status["gemeente-0002"]
    assert before.state == states.SENT
    assert before.attempts == 2
    assert after.state == states.UNKNOWN
    assert after.attempts == 1
    assert smtp_server.deliveries_by_address()["burgemeester@g0002.example"] == 1


def _kill_randomly(
    pool: WorkerPool,
    server: RecordingSMTPServer,
    handle: RunHandle,
    rng: random.Random,
    kills: int,
) -> int:
    """SIGKILL pool processes or whole workers at random moments; returns processes killed."""
    killed = 0
    for _ in range(kills):
        time.sleep(rng.uniform(0.2, 1.2))
        if not any(handle.ledger.counts(handle.run_id)[s] for s in states.PENDING_STATES):
            break
        alive = [p for p in pool.processes if p.poll() is None]
        victim = rng.choice(alive)
        children = pool.pool_pids(victim)
        if rng.random() < 0.7:
            # One pool process, in the middle of whatever it is doing.
            pid = rng.choice(children)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed += 1
        else:
            # The whole worker: its unacknowledged tasks come back after the visibility timeout.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            killed += len(children)
            pool.start(concurrency=2, **server.environ(timeout=2))
    return killed


@pytest.mark.parametrize("seed", SEEDS_SHORT + SEEDS_FULL)
def test_workers_killed_at_random_moments_send_nobody_twice_and_strand_nobody(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path, seed: int
) -> None:
    full = seed > 10
    count = 300 if full else 60
    rng = random.Random(seed)
    # Slow replies keep sends open, so kills also land between the end of DATA and the reply.
    smtp_server.plan.random_faults(0.3, seed=seed, kinds=("slow_after_data",), seconds=0.25)
    _workers(worker_pool, smtp_server, n=2)
    handle = _run(worker_pool, smtp_server, tmp_path, count)

    killed = _kill_randomly(worker_pool, smtp_server, handle, rng, kills=8 if full else 3)
    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=180 if full else 90)
    status = handle.ledger.status(handle.run_id)

    deliveries = _assert_at_most_once(smtp_server)
    assert counts[states.SENT] + counts[states.UNKNOWN] == count
    assert counts[states.UNKNOWN] <= killed
    for recipient in status.recipients:
        if recipient.state == states.SENT:
            assert deliveries[recipient.email] == 1
        else:
            # Unknown only where a worker died after the end of DATA had gone out.
            lost = [h for h in recipient.history if h["outcome"] == "worker-lost"]
            assert lost, recipient
            assert "after the end of DATA" in lost[-1]["reply"]


@pytest.mark.parametrize("scale", [SHORT, FULL])
def test_redis_restarted_mid_run_loses_nothing(
    redis_server: TestRedis,
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
    tmp_path: Path,
    scale: int,
) -> None:
    count = 40 * scale
    smtp_server.plan.random_faults(1.0, seed=scale, kinds=("slow_after_data",), seconds=0.1)
    _workers(worker_pool, smtp_server)
    handle = _run(worker_pool, smtp_server, tmp_path, count)
    deadline = time.monotonic() + 30
    while len(smtp_server.messages) < count // 4:
        assert time.monotonic() < deadline
        time.sleep(0.02)

    redis_server.restart()
    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=120)

    assert counts[states.SENT] == count
    assert sorted(_assert_at_most_once(smtp_server).values()) == [1] * count


def test_two_workers_racing_on_one_recipient_deliver_once(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    handle = _run(worker_pool, smtp_server, tmp_path, 1)
    # The same task message twenty times over, to six worker processes at once.
    for _ in range(19):
        tasks.enqueue(handle.run_id, [(handle.keys[0], 1)], 1)
    _workers(worker_pool, smtp_server, n=3)

    wait_until_settled(handle.ledger, handle.run_id)
    time.sleep(1.5)
    history = handle.ledger.status(handle.run_id).recipients[0].history

    assert len(smtp_server.messages) == 1
    assert [h["outcome"] for h in history] == ["queued", "claimed", "accepted"]


@pytest.mark.parametrize("scale", [SHORT, FULL])
def test_rate_limit_holds_in_every_window_with_several_workers(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path, scale: int
) -> None:
    count, rate = (10, 5) if scale == 1 else (40, 4)
    _workers(worker_pool, smtp_server, n=3, DISTRIBUTIE_RATE_LIMIT=f"{rate}/s")
    handle = _run(worker_pool, smtp_server, tmp_path, count, DISTRIBUTIE_RATE_LIMIT=f"{rate}/s")

    wait_until_settled(handle.ledger, handle.run_id, timeout=60)
    arrivals = sorted(m.received_monotonic for m in smtp_server.messages)

    assert len(arrivals) == count
    worst = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert worst <= rate
    # As long as the limit implies (evenly spaced), and not much longer.
    assert (count - 1) / rate * 0.95 <= arrivals[-1] - arrivals[0] <= (count - 1) / rate * 1.5


@pytest.mark.parametrize("scale", [SHORT, FULL])
def test_cancel_while_workers_are_killed_never_sends_a_cancelled_recipient(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path, scale: int
) -> None:
    count = 40 * scale
    smtp_server.plan.random_faults(1.0, seed=scale, kinds=("slow_after_data",), seconds=0.05)
    _workers(worker_pool, smtp_server)
    handle = _run(worker_pool, smtp_server, tmp_path, count)
    while len(smtp_server.messages) < count // 4:
        time.sleep(0.01)

    for pid in worker_pool.pool_pids(worker_pool.processes[0]):
        os.kill(pid, signal.SIGKILL)
    result = run_ops.cancel(handle.session, handle.run_id, "secretariaat")
    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=60)
    status = handle.ledger.status(handle.run_id)

    deliveries = _assert_at_most_once(smtp_server)
    assert result.cancelled > 0
    assert counts[states.CANCELLED] >= result.cancelled
    for recipient in status.recipients:
        if recipient.state == states.CANCELLED:
            assert recipient.email not in deliveries
            assert any("cancel" in h["reply"] for h in recipient.history)
        else:
            assert recipient.state in (states.SENT, states.UNKNOWN)


def test_resend_while_workers_are_busy_is_exactly_one_new_delivery(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.random_faults(1.0, seed=3, kinds=("slow_after_data",), seconds=0.05)
    _workers(worker_pool, smtp_server)
    handle = _run(worker_pool, smtp_server, tmp_path, 40)
    while handle.ledger.status(handle.run_id, ["gemeente-0001"]).recipients[0].state != "sent":
        time.sleep(0.01)

    requeue = run_ops.resend(handle.session, handle.run_id, "Gemeente 0001", None, "secretariaat")
    tasks.enqueue(handle.run_id, requeue.queued * 2, 1)  # even if the task arrives three times
    wait_until_settled(handle.ledger, handle.run_id)
    time.sleep(1)

    deliveries = smtp_server.deliveries_by_address()
    assert deliveries["burgemeester@g0001.example"] == 2
    assert max(n for a, n in deliveries.items() if a != "burgemeester@g0001.example") == 1
    ids = [m.message_id for m in smtp_server.messages if "g0001" in m.rcpt_tos[0]]
    assert len(set(ids)) == 2


def test_a_recovered_worker_takeover_is_recorded_in_the_history(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    # The first attempt hangs before the end of DATA long enough to be killed there.
    smtp_server.plan.slow_reply_to_rcpt("burgemeester@g0001.example", seconds=1.5, times=1)
    worker = worker_pool.start(concurrency=1, **smtp_server.environ(timeout=3))
    handle = _run(worker_pool, smtp_server, tmp_path, 1)
    while handle.ledger.counts(handle.run_id)[states.SENDING] == 0:
        time.sleep(0.01)

    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    worker_pool.start(concurrency=1, **smtp_server.environ(timeout=3))
    wait_until_settled(handle.ledger, handle.run_id, timeout=60)
    recipient = handle.ledger.status(handle.run_id).recipients[0]

    assert recipient.state == states.SENT
    lost = [h for h in recipient.history if h["outcome"] == "worker-lost"]
    assert len(lost) == 1
    assert "before the end of DATA" in lost[0]["reply"]
    assert len(smtp_server.messages) == 1
