"""Lost task messages, for real: `distributie send`, `resend` and `retry` are killed (SIGKILL)
after the ledger queued their recipients and before any task message was published. A running
worker repairs it after DISTRIBUTIE_REQUEUE_AFTER (here 1 s), and every recipient is e-mailed
exactly once, as the ledger and the SMTP server both say."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from distributie import states
from distributie.ledger import Ledger
from distributie.ledger.keys import UNPUBLISHED
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import (
    WorkerPool,
    session_for,
    start_run,
    wait_until_settled,
    write_recipients,
)

ROOT = Path(__file__).resolve().parents[2]
REQUEUE_AFTER = {"DISTRIBUTIE_REQUEUE_AFTER": "1"}


def _env(pool: WorkerPool, server: RecordingSMTPServer) -> dict[str, str]:
    return {**pool.env, **server.environ(timeout=2), **REQUEUE_AFTER}


def run_killed(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a process that SIGKILLs itself where it would publish its tasks."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    full.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "tests.support.killed_cli", *args],
        cwd=cwd,
        env=full,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _republished(ledger: Ledger, run_id: str) -> dict[str, int]:
    """Recipient key -> how many times its history says its task was published again."""
    return {
        r.key: sum(h["outcome"] == states.OUTCOME_REPUBLISHED for h in r.history)
        for r in ledger.status(run_id).recipients
    }


def test_a_send_killed_before_publishing_is_repaired_and_every_recipient_sent_once(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env = _env(worker_pool, smtp_server)
    recipients = write_recipients(tmp_path / "lijst.csv", 7)

    killed = run_killed(
        env, tmp_path, "send", "--yes", "--no-wait", "--recipients", str(recipients)
    )
    ledger = session_for(env).ledger
    [run_id] = ledger.run_ids()
    stranded = ledger.counts(run_id)[states.QUEUED]
    tasks_in_queue = ledger.client.llen("distributie")
    worker_pool.start(**smtp_server.environ(timeout=2), **REQUEUE_AFTER)
    counts = wait_until_settled(ledger, run_id, timeout=60)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (stranded, tasks_in_queue) == (7, 0)
    assert counts[states.SENT] == 7
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 7
    assert set(_republished(ledger, run_id).values()) == {1}
    assert ledger.client.zcard(UNPUBLISHED) == 0
    assert "republished a lost task message" in worker_pool.logs()


def test_a_resend_killed_before_publishing_is_repaired_and_sent_once_more(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env = _env(worker_pool, smtp_server)
    worker_pool.start(**smtp_server.environ(timeout=2), **REQUEUE_AFTER)
    handle = start_run(env, write_recipients(tmp_path / "lijst.csv", 2))
    wait_until_settled(handle.ledger, handle.run_id)

    killed = run_killed(env, tmp_path, "resend", handle.run_id, "Gemeente 0001", "--yes")
    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=60)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert counts[states.SENT] == 2
    assert smtp_server.deliveries_by_address() == {
        "burgemeester@g0001.example": 2,  # the first send and exactly one resend
        "burgemeester@g0002.example": 1,
    }
    assert _republished(handle.ledger, handle.run_id) == {"gemeente-0001": 1, "gemeente-0002": 0}
    [recipient] = handle.ledger.status(handle.run_id, ["gemeente-0001"]).recipients
    assert ".1@" in recipient.message_id  # the resend's own Message-ID


def test_a_retry_killed_before_publishing_is_repaired_and_the_failed_sent_once(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.fail_rcpt("burgemeester@g0002.example", code=550, times=1)
    env = _env(worker_pool, smtp_server)
    worker_pool.start(**smtp_server.environ(timeout=2), **REQUEUE_AFTER)
    handle = start_run(env, write_recipients(tmp_path / "lijst.csv", 3))
    assert wait_until_settled(handle.ledger, handle.run_id)[states.FAILED] == 1

    killed = run_killed(env, tmp_path, "retry", handle.run_id)
    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=60)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert counts[states.SENT] == 3
    assert sorted(smtp_server.deliveries_by_address().values()) == [1, 1, 1]
    assert _republished(handle.ledger, handle.run_id)["gemeente-0002"] == 1


def test_a_run_whose_tasks_were_published_is_never_published_again(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    # Rate-limited, so recipients stay queued (with their task messages) well past
    # DISTRIBUTIE_REQUEUE_AFTER: the repair must not take them for lost.
    env = {**_env(worker_pool, smtp_server), "DISTRIBUTIE_RATE_LIMIT": "2/s"}
    worker_pool.start(
        **smtp_server.environ(timeout=2), **REQUEUE_AFTER, DISTRIBUTIE_RATE_LIMIT="2/s"
    )
    handle = start_run(env, write_recipients(tmp_path / "lijst.csv", 8))

    counts = wait_until_settled(handle.ledger, handle.run_id, timeout=60)

    assert counts[states.SENT] == 8
    assert set(_republished(handle.ledger, handle.run_id).values()) == {0}
    assert "republished" not in worker_pool.logs()
    histories = [json.dumps(r.history) for r in handle.ledger.status(handle.run_id).recipients]
    assert not any(states.OUTCOME_REPUBLISHED in h for h in histories)
