"""The sending commands as a user runs them: real `distributie` processes, Redis, workers, SMTP."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.cli import distributie
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import WorkerPool, write_recipients


def workers_and_list(
    pool: WorkerPool,
    server: RecordingSMTPServer,
    tmp_path: Path,
    count: int,
    prefix: str = "Gemeente",
) -> tuple[dict[str, str], Path]:
    """A worker sending to `server`, a list of `count`, and the environment for commands."""
    pool.start(**server.environ(timeout=2))
    recipients = write_recipients(tmp_path / "list.csv", count, prefix=prefix)
    return {**pool.env, **server.environ(timeout=2)}, recipients


def test_send_with_embedded_defaults_completes_the_bundled_mailing(tmp_path: Path) -> None:
    sent = distributie("send", "--yes", cwd=tmp_path)
    status = distributie("status", "--json", cwd=tmp_path)

    assert sent.returncode == 0, sent.stderr
    assert "nothing is e-mailed" in sent.stderr
    document = json.loads(status.stdout)
    assert document["counts"]["sent"] == 39
    assert len(list((tmp_path / "outbox" / document["run"]).glob("*.eml"))) == 39


def test_embedded_commands_leave_no_process_running(tmp_path: Path) -> None:
    distributie("send", "--yes", "--limit", "2", cwd=tmp_path)
    distributie("status", cwd=tmp_path)

    assert processes_mentioning(tmp_path) == []


def processes_mentioning(path: Path) -> list[str]:
    """Command lines of processes that run in `path` or name it (a Redis, a worker)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(path) in cmdline or cwd.startswith(str(path)):
            found.append(cmdline)
    return found


def test_send_json_prints_one_object_on_stdout(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env, recipients = workers_and_list(worker_pool, smtp_server, tmp_path, 3)

    result = distributie("send", "--yes", "--json", "--recipients", str(recipients), env=env)

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"run", "counts"}
    assert document["counts"]["sent"] == 3
    assert len(smtp_server.messages) == 3


def test_send_exits_1_when_a_recipient_failed(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.refuse("burgemeester@g0002.example", 550)
    env, recipients = workers_and_list(worker_pool, smtp_server, tmp_path, 3)

    result = distributie("send", "--yes", "--json", "--recipients", str(recipients), env=env)

    assert result.returncode == 1
    assert json.loads(result.stdout)["counts"]["failed"] == 1


def test_send_only_and_limit_choose_recipients(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env, recipients = workers_and_list(worker_pool, smtp_server, tmp_path, 5)

    result = distributie(
        "send", "--yes", "--json", "--recipients", str(recipients),
        "--only", "gemeente 0004", "--only", "Gemeente 0002", env=env,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert sorted(smtp_server.deliveries_by_address()) == [
        "burgemeester@g0002.example",
        "burgemeester@g0004.example",
    ]


def test_send_only_an_unknown_gemeente_exits_2_and_queues_nothing(
    worker_pool: WorkerPool, tmp_path: Path
) -> None:
    result = distributie("send", "--yes", "--only", "Atlantis", env=worker_pool.env)
    runs = distributie("runs", "--json", env=worker_pool.env)

    assert result.returncode == 2
    assert "Atlantis" in result.stderr
    assert json.loads(runs.stdout) == {"runs": []}


def test_send_no_wait_returns_at_once_and_warns_without_workers(
    worker_pool: WorkerPool, tmp_path: Path
) -> None:
    result = distributie(
        "send", "--yes", "--no-wait", "--json", "--limit", "2", env=worker_pool.env
    )

    assert result.returncode == 0, result.stderr
    assert "No worker is consuming the queue" in result.stderr
    assert json.loads(result.stdout)["counts"]["queued"] == 2


def test_send_without_a_terminal_needs_yes(worker_pool: WorkerPool) -> None:
    result = distributie("send", env=worker_pool.env)

    assert result.returncode == 2
    assert "--yes" in result.stderr


def test_status_csv_neutralises_formula_cells(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    env, recipients = workers_and_list(
        worker_pool, smtp_server, tmp_path, 1, prefix="=HYPERLINK(1)"
    )
    distributie("send", "--yes", "--recipients", str(recipients), env=env)

    result = distributie("status", "--csv", env=env)

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:3] == ["gemeente", "email", "state"]
    assert rows[1][0] == "'=HYPERLINK(1) 0001"
    assert rows[1][2] == "sent"


def test_resend_retry_and_cancel_commands_act_on_the_ledger(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.refuse("burgemeester@g0001.example", 550)
    env, recipients = workers_and_list(worker_pool, smtp_server, tmp_path, 2)
    run = json.loads(
        distributie("send", "--yes", "--json", "--recipients", str(recipients), env=env).stdout
    )["run"]

    resent = distributie(
        "resend", run, "Gemeente 0001", "--to", "kabinet@g0001.example", "--yes", env=env
    )
    retried = distributie("retry", run, env=env)
    cancelled = distributie("cancel", run, env=env)
    status = json.loads(distributie("status", run, "--json", env=env).stdout)

    assert resent.returncode == 0, resent.stderr
    assert retried.returncode == 0, retried.stderr
    assert cancelled.returncode == 0, cancelled.stderr
    first = status["recipients"][0]
    assert first["email"] == "kabinet@g0001.example"
    assert any("resend requested" in h["reply"] for h in first["history"])


def test_status_of_an_unknown_run_exits_2(worker_pool: WorkerPool) -> None:
    result = distributie("status", "20190408-000000-dead", env=worker_pool.env)

    assert result.returncode == 2
    assert "no run" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_is_exit_2_without_traceback_or_password(tmp_path: Path) -> None:
    env = {"DISTRIBUTIE_REDIS_URL": "redis://:pw-Geheim-77@127.0.0.1:1/0"}

    result = distributie("status", env=env, cwd=tmp_path, timeout=60)

    assert result.returncode == 2
    assert "cannot reach Redis at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Geheim" not in result.stderr + result.stdout


def test_ctrl_c_during_an_embedded_send_leaves_the_rest_queued_and_nothing_running(
    tmp_path: Path,
) -> None:
    recipients = write_recipients(tmp_path / "list.csv", 3000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    send = subprocess.Popen(
        [sys.executable, "-m", "distributie", "send", "--yes", "--recipients", str(recipients)],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list((tmp_path / "outbox").glob("*/*.eml")):
        assert time.monotonic() < deadline and send.poll() is None
        time.sleep(0.05)

    send.send_signal(signal.SIGINT)
    _, stderr = send.communicate(timeout=60)
    status = json.loads(distributie("status", "--json", cwd=tmp_path).stdout)

    assert send.returncode == 130
    assert "stay queued" in stderr
    assert "Traceback" not in stderr
    assert status["counts"]["sending"] == 0
    assert status["counts"]["queued"] > 0
    assert status["counts"]["sent"] == len(list((tmp_path / "outbox").glob("*/*.eml")))
    assert processes_mentioning(tmp_path) == []


def test_status_state_filter_writes_only_the_recipients_that_need_attention(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.refuse("burgemeester@g0002.example", 550)
    env, recipients = workers_and_list(worker_pool, smtp_server, tmp_path, 3)
    distributie("send", "--yes", "--recipients", str(recipients), env=env)

    result = distributie("status", "--csv", "--state", "failed", "--state", "unknown", env=env)

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert [row[0] for row in rows[1:]] == ["Gemeente 0002"]
    assert rows[1][2] == "failed"
    assert rows[1][4].startswith("550")


def test_status_with_a_state_that_does_not_exist_exits_2(worker_pool: WorkerPool) -> None:
    result = distributie("status", "--state", "delivered", env=worker_pool.env)

    assert result.returncode == 2
    assert "not a state" in result.stderr
