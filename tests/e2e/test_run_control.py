"""Run control end to end: real Redis, real SMTP server, real worker processes and the CLI.

A scheduled start released once while workers die around it, pause and resume in the middle of
a rate-limited run, approval by a second person, and a test send that reaches only its address.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import redis

from distributie import states
from distributie.ledger.keys import events_key
from distributie.operations import control
from distributie.operations.runs import RunPlan
from tests.support.cli import distributie
from tests.support.redis import TestRedis
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import (
    WorkerPool,
    start_run,
    wait_until_settled,
    write_recipients,
)


def _env(pool: WorkerPool, server: RecordingSMTPServer, **extra: str) -> dict[str, str]:
    return {**pool.env, **server.environ(timeout=2), **extra}


def _released_events(run_id: str, redis_url: str) -> int:
    entries = redis.Redis.from_url(redis_url).xrange(events_key(run_id))
    return sum(1 for _, fields in entries if fields.get(b"outcome") == b"released")


def _subject(data: bytes) -> str:
    return str(message_from_bytes(data, policy=policy.default)["Subject"])


def test_a_scheduled_run_is_released_once_while_workers_are_killed_around_its_time(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, redis_url: str, tmp_path: Path
) -> None:
    env = _env(worker_pool, smtp_server)
    first = worker_pool.start(concurrency=1, **smtp_server.environ(timeout=2))
    second = worker_pool.start(concurrency=1, **smtp_server.environ(timeout=2))
    due = datetime.now().astimezone() + timedelta(seconds=4)
    handle = start_run(env, write_recipients(tmp_path / "l.csv", 20), plan=RunPlan(release_at=due))

    time.sleep(max(0.0, (due - datetime.now().astimezone()).total_seconds() - 0.3))
    os.killpg(first.pid, signal.SIGKILL)
    worker_pool.start(concurrency=1, wait=False, **smtp_server.environ(timeout=2))
    time.sleep(1.0)
    os.killpg(second.pid, signal.SIGKILL)
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))
    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=90)

    assert counts[states.SENT] == 20
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 20
    assert _released_events(handle.run_id, redis_url) == 1
    control_state = handle.ledger.run_control(handle.run_id)
    assert control_state.released_at is not None
    assert control_state.released_at >= due.timestamp()


def test_pause_and_resume_in_the_middle_of_a_rate_limited_run_lose_and_duplicate_nothing(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    rate = {"DISTRIBUTIE_RATE_LIMIT": "100/s"}
    env = _env(worker_pool, smtp_server, **rate)
    for _ in range(2):
        worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2), **rate)
    handle = start_run(env, write_recipients(tmp_path / "l.csv", 300))
    while len(smtp_server.messages) < 100:
        time.sleep(0.01)

    control.pause(handle.session, handle.run_id, "secretariaat")
    time.sleep(1.5)  # what was under way finishes
    during_pause = len(smtp_server.messages)
    time.sleep(2.0)
    still = len(smtp_server.messages)
    done = control.resume(handle.session, handle.run_id, "secretariaat")
    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=90)

    assert still == during_pause < 300
    assert done.handed_over == 300 - during_pause
    assert counts[states.SENT] == 300
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 300
    assert handle.ledger.status(handle.run_id).run_state == states.RUN_FINISHED


def test_approval_needs_a_second_person_and_then_everyone_is_sent_once(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env = _env(worker_pool, smtp_server, DISTRIBUTIE_REQUIRE_APPROVAL="true")
    worker_pool.start(**smtp_server.environ(timeout=2))
    recipients = write_recipients(tmp_path / "l.csv", 5)

    created = distributie("send", "--yes", "--json", "--recipients", str(recipients),
                          "--by", "anna", env=env)  # fmt: skip
    run_id = json.loads(created.stdout)["run"]
    time.sleep(1)
    by_creator = distributie("approve", run_id, "--by", "anna", env=env)
    by_colleague = distributie("approve", run_id, "--by", "bob", env=env)
    status = json.loads(distributie("status", run_id, "--json", env=env).stdout)
    while status["counts"]["sent"] < 5:
        time.sleep(0.2)
        status = json.loads(distributie("status", run_id, "--json", env=env).stdout)

    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["run_state"] == states.RUN_AWAITING_APPROVAL
    assert "awaits approval" in created.stderr
    assert by_creator.returncode == 2
    assert "someone else must approve it" in by_creator.stderr
    assert by_colleague.returncode == 0, by_colleague.stderr
    assert status["approved_by"] == "bob"
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 5


def test_a_test_send_reaches_only_the_test_address_and_leaves_the_real_run_alone(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env = _env(worker_pool, smtp_server)
    worker_pool.start(**smtp_server.environ(timeout=2))
    recipients = write_recipients(tmp_path / "l.csv", 4)
    real = start_run(env, recipients)

    tested = distributie("send", "--yes", "--recipients", str(recipients), "--test-to",
                         "proef@secretariaat.example", "--only", "Gemeente 0002",
                         "--only", "Gemeente 0003", "--json", env=env)  # fmt: skip
    test_run = json.loads(tested.stdout)["run"]
    wait_until_settled(real.ledger, real.run_id)
    wait_until_settled(real.ledger, test_run)

    by_address = Counter(m.rcpt_tos[0] for m in smtp_server.messages)
    proeven = [m for m in smtp_server.messages if m.rcpt_tos == ("proef@secretariaat.example",)]
    assert tested.returncode == 0, tested.stderr
    assert by_address["proef@secretariaat.example"] == 2
    assert all(by_address[real.emails[k]] == 1 for k in real.keys)
    assert [_subject(m.data)[:8] for m in proeven] == ["[PROEF] "] * 2
    assert all(b"X-Distributie-Test: yes" in m.data for m in proeven)
    test_status = json.loads(distributie("status", test_run, "--json", env=env).stdout)
    assert test_status["kind"] == states.RUN_KIND_TEST
    assert {r["email"] for r in test_status["recipients"]} == {"proef@secretariaat.example"}
    assert real.ledger.status(real.run_id).counts[states.SENT] == 4


def test_a_pause_survives_a_redis_restart_and_new_workers(
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
    redis_server: TestRedis,
    tmp_path: Path,
) -> None:
    env = _env(worker_pool, smtp_server)
    handle = start_run(env, write_recipients(tmp_path / "l.csv", 10))
    control.pause(handle.session, handle.run_id, "secretariaat")

    redis_server.restart()
    worker_pool.start(**smtp_server.environ(timeout=2))
    time.sleep(3)
    paused_state = handle.ledger.status(handle.run_id).run_state
    control.resume(handle.session, handle.run_id, "secretariaat")
    counts = wait_until_settled(handle.ledger, handle.run_id)

    assert paused_state == states.RUN_PAUSED
    assert counts[states.SENT] == 10
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 10
