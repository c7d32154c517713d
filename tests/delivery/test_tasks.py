"""The Celery side against real worker processes and the suite's Redis: batches, the log an
operator reads, and errors that must not hide each other."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import redis

from distributie import states
from distributie.delivery import tasks
from distributie.ledger import Ledger
from distributie.ledger.keys import bundle_key
from tests.support.imap import TestIMAPServer
from tests.support.workers import (
    WorkerPool,
    session_for,
    start_run,
    wait_until_settled,
    write_recipients,
)


def _json_lines(pool: WorkerPool) -> list[dict[str, Any]]:
    lines = []
    for line in pool.logs().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def _wait_for(pool: WorkerPool, predicate: Any, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        lines = _json_lines(pool)
        if predicate(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def test_enqueue_puts_recipients_in_batches_of_the_batch_size(
    worker_pool: WorkerPool, redis_url: str
) -> None:
    session = session_for(worker_pool.env)
    tasks.configure(session.settings, redis_url=redis_url)

    batches = tasks.enqueue("run-1", [(f"g{n}", 1) for n in range(12)], 5)

    assert batches == 3
    assert redis.Redis.from_url(redis_url).llen(tasks.QUEUE) == 3


def test_a_worker_logs_one_json_line_per_attempt(worker_pool: WorkerPool, tmp_path: Path) -> None:
    worker_pool.start(DISTRIBUTIE_LOG_FORMAT="json")
    handle = start_run(worker_pool.env, write_recipients(tmp_path / "l.csv", 5))
    wait_until_settled(handle.ledger, handle.run_id)

    lines = _wait_for(worker_pool, lambda ls: sum(x["message"] == "attempt" for x in ls) >= 5)

    attempts = [x for x in lines if x["message"] == "attempt"]
    assert sorted(a["gemeente"] for a in attempts) == sorted(handle.keys)
    for attempt in attempts:
        assert attempt["run"] == handle.run_id
        assert attempt["attempt"] == 1
        assert attempt["outcome"] == states.OUTCOME_ACCEPTED
        assert attempt["code"] == 250
        assert attempt["ms"] >= 0
        assert attempt["level"] == "INFO"


def test_a_worker_logs_its_start_with_the_settings_that_matter(
    worker_pool: WorkerPool,
) -> None:
    worker_pool.start(DISTRIBUTIE_LOG_FORMAT="json", DISTRIBUTIE_RATE_LIMIT="30/m")

    [start] = _wait_for(worker_pool, lambda ls: any(x["message"] == "worker starting" for x in ls))[
        :1
    ]

    assert start["message"] == "worker starting"
    assert start["rate_limit"] == "30/m"
    assert start["transport"].startswith("outbox ")
    assert start["redis"].startswith("127.0.0.1:")


def test_every_recipients_error_in_a_batch_is_logged(
    worker_pool: WorkerPool, redis_url: str, tmp_path: Path
) -> None:
    handle = start_run(worker_pool.env, write_recipients(tmp_path / "l.csv", 3))
    sha = handle.ledger.run_info(handle.run_id)["templates_sha256"]
    redis.Redis.from_url(redis_url).delete(bundle_key(sha))  # as if the data were lost

    worker_pool.start(DISTRIBUTIE_LOG_FORMAT="json")
    counts = wait_until_settled(handle.ledger, handle.run_id)
    lines = _wait_for(
        worker_pool, lambda ls: sum(x["message"] == "sending failed with an error" for x in ls) >= 3
    )

    errors = [x for x in lines if x["message"] == "sending failed with an error"]
    assert counts[states.FAILED] == 3
    assert sorted(e["gemeente"] for e in errors) == sorted(handle.keys)
    assert all("is not in the ledger" in e["exception"] for e in errors)


def test_the_workers_poll_the_bounce_mailbox_only_when_one_is_configured(
    ledger: Ledger, imap_server: TestIMAPServer
) -> None:
    without = tasks.worker_duties(imap_server.settings(bounce_imap_host=None), ledger)
    with_mailbox = tasks.worker_duties(imap_server.settings(bounce_poll_seconds=30), ledger)

    assert "bounces" not in [d.name for d in without]
    assert [(d.name, d.every) for d in with_mailbox if d.name == "bounces"] == [("bounces", 30)]
