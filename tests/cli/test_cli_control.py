"""Run control as a user types it: `send --at`, `--test-to`, approve, reject, pause, resume."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

from distributie import states
from tests.support.cli import distributie
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import WorkerPool, write_recipients


def _at(seconds: float) -> str:
    return (datetime.now().astimezone() + timedelta(seconds=seconds)).isoformat(timespec="seconds")


def test_send_at_a_time_in_the_past_is_refused_with_exit_2(tmp_path: Path) -> None:
    done = distributie("send", "--yes", "--at", "2020-01-06T09:00", cwd=tmp_path)

    assert done.returncode == 2
    assert "is in the past" in done.stderr
    assert not (tmp_path / "outbox").exists()


def test_send_at_more_than_a_year_ahead_is_refused_with_exit_2(tmp_path: Path) -> None:
    done = distributie("send", "--yes", "--at", _at(400 * 86400), cwd=tmp_path)

    assert done.returncode == 2
    assert "more than a year ahead" in done.stderr


def test_a_test_send_cannot_be_scheduled(tmp_path: Path) -> None:
    done = distributie(
        "send", "--yes", "--test-to", "proef@x.example", "--at", _at(600), cwd=tmp_path
    )

    assert done.returncode == 2
    assert "a test send goes out at once" in done.stderr


def test_a_test_send_to_an_invalid_address_is_refused(tmp_path: Path) -> None:
    done = distributie("send", "--yes", "--test-to", "proef@", cwd=tmp_path)

    assert done.returncode == 2
    assert "--test-to 'proef@' is not a valid e-mail address" in done.stderr


def test_send_at_plus_approval_by_a_second_name_delivers_everyone_once_after_the_time(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env = {**worker_pool.env, **smtp_server.environ(timeout=2), "DISTRIBUTIE_REQUIRE_APPROVAL": "1"}
    worker_pool.start(**smtp_server.environ(timeout=2))
    recipients = write_recipients(tmp_path / "l.csv", 6)
    due = _at(8)

    created = distributie("send", "--yes", "--json", "--recipients", str(recipients),
                          "--at", due, "--by", "anna", env=env)  # fmt: skip
    run_id = json.loads(created.stdout)["run"]
    approved = distributie("approve", run_id, "--by", "bob", env=env)
    before = len(smtp_server.messages)
    deadline = time.monotonic() + 40
    while len(smtp_server.messages) < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    status = json.loads(distributie("status", run_id, "--json", env=env).stdout)

    assert created.returncode == 0, created.stderr
    assert approved.returncode == 0, approved.stderr
    assert "goes out at its time" in approved.stdout
    assert before == 0
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 6
    assert (
        min(m.received_at for m in smtp_server.messages) >= datetime.fromisoformat(due).timestamp()
    )
    assert status["approved_by"] == "bob"
    assert status["run_state"] in (states.RUN_ACTIVE, states.RUN_FINISHED)


def test_pause_and_resume_say_what_they_did(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env = {**worker_pool.env, **smtp_server.environ(timeout=2)}
    recipients = write_recipients(tmp_path / "l.csv", 3)
    created = distributie("send", "--yes", "--no-wait", "--json", "--recipients",
                          str(recipients), env=env)  # fmt: skip
    run_id = json.loads(created.stdout)["run"]

    paused = distributie("pause", run_id, "--by", "anna", env=env)
    again = distributie("pause", run_id, env=env)
    status = json.loads(distributie("status", run_id, "--json", env=env).stdout)
    resumed = distributie("resume", run_id, "--by", "anna", env=env)

    assert paused.returncode == 0 and "paused" in paused.stdout
    assert again.returncode == 2 and "only an active run can be paused" in again.stderr
    assert status["run_state"] == states.RUN_PAUSED
    assert resumed.returncode == 0 and "3 recipient(s) go out again" in resumed.stdout
