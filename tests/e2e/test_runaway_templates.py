"""Templates that would exhaust a process: `distributie check` refuses them in bounded memory
and time, and a worker marks the recipient `failed` with the reason and sends the rest.

`check` runs as a real subprocess whose peak memory (its own RSS, from wait4) is asserted. An
address-space limit keeps a regression from taking the shared machine with it: without bounds the
huge string (which Jinja2 used to compute while compiling, being a constant) fails with a
MemoryError instead of the message asserted here.

The kernel counts into a process's peak RSS the peak of the memory it had before exec, and a child
started by (v)fork had its parent's. So `check` is started, and reaped, by a small Python of its
own: started from the test process itself it would report this whole test session's peak.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from distributie import states
from distributie.compose.checking import CheckedMailing
from distributie.compose.mailing import BUNDLED_MAILING, load_mailing
from distributie.compose.recipients import read_recipients
from distributie.compose.rendering import compile_mailing
from distributie.operations import runs as run_ops
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import WorkerPool, session_for, wait_until_settled, write_recipients

HUGE = "{% if gemeente == 'Gemeente 0002' %}{{ 'x' * 10**10 }}{% endif %}"
# Made from a column, so no version of Jinja2 computes it while compiling the template: in the
# test's own process (which compiles the mailing too) a regression costs 260 MB, not 10 GB.
LARGE = "{% if gemeente == 'Gemeente 0002' %}{{ gemeente * 20000000 }}{% endif %}"
ENDLESS = (
    "{% if gemeente == 'Gemeente 0003' %}{% for i in range(100000) %}"
    "{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}"
)
CHECK = [sys.executable, "-m", "distributie", "check"]
# The small Python between the test and `check`: it sets the memory limit, starts the check and
# writes the check's peak RSS (KiB, from wait4) to a file, and exits with the check's exit code.
LIMITED = """
import os, resource, subprocess, sys
limit, report, *command = sys.argv[1:]
resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
check = subprocess.Popen(command)
_, status, usage = os.wait4(check.pid, 0)
with open(report, "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""
ADDRESS_SPACE = 3 * 1024**3  # a safety net for the machine, far above what check needs


def hostile_mailing(tmp_path: Path, expression: str) -> Path:
    """The bundled mailing with `expression` at the end of its text body."""
    folder = tmp_path / "mailing"
    shutil.copytree(BUNDLED_MAILING, folder, ignore=shutil.ignore_patterns("*.py"))
    with (folder / "bericht.txt.j2").open("a", encoding="utf-8") as text:
        text.write(expression + "\n")
    return folder


def check_with_peak_rss(mailing: Path, recipients: Path, cwd: Path) -> tuple[int, str, int, float]:
    """Exit code, output, peak RSS (bytes) and seconds of a real `distributie check`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    env["COLUMNS"] = "300"
    output = cwd / "output.txt"
    report = cwd / "peak-rss.txt"
    started = time.monotonic()
    with output.open("wb") as stream:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                LIMITED,
                str(ADDRESS_SPACE),
                str(report),
                *CHECK,
                "--mailing",
                str(mailing),
                "--recipients",
                str(recipients),
            ],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError("check did not stop within 120 s") from None
    seconds = time.monotonic() - started
    return code, output.read_text(), int(report.read_text()) * 1024, seconds


def test_check_refuses_a_huge_string_in_bounded_memory(tmp_path: Path) -> None:
    mailing = hostile_mailing(tmp_path, HUGE)
    recipients = write_recipients(tmp_path / "lijst.csv", 4)

    code, output, peak, _ = check_with_peak_rss(mailing, recipients, tmp_path)

    assert code == 2, output
    assert (
        f"{recipients}, row 3: bericht.txt.j2: makes a value of 10,000,000,000 characters, more "
        "than a whole message may hold (10,000,000, DISTRIBUTIE_MAX_MESSAGE_BYTES)"
    ) in output
    assert "Traceback" not in output
    assert peak < 250 * 1024**2, f"peak RSS {peak / 1024**2:.0f} MB"


def test_check_stops_an_endless_loop_after_the_time_limit(tmp_path: Path) -> None:
    mailing = hostile_mailing(tmp_path, ENDLESS)
    recipients = write_recipients(tmp_path / "lijst.csv", 4)

    code, output, peak, seconds = check_with_peak_rss(mailing, recipients, tmp_path)

    assert code == 2, output
    assert f"{recipients}, row 4: bericht.txt.j2: takes longer than 5 seconds" in output
    assert seconds < 30
    assert peak < 250 * 1024**2, f"peak RSS {peak / 1024**2:.0f} MB"


def test_a_worker_fails_the_runaway_recipients_and_sends_the_rest(
    worker_pool: WorkerPool, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    # A run whose templates `check` would have refused: made here as a run created with other
    # settings, or from a mailing changed after checking, would reach a worker.
    mailing = load_mailing(hostile_mailing(tmp_path, "\n".join([LARGE, ENDLESS])))
    recipients = read_recipients(write_recipients(tmp_path / "lijst.csv", 4))
    env = {**worker_pool.env, **smtp_server.environ(timeout=2)}
    session = session_for(env)
    compiled = compile_mailing(mailing)
    sample = compiled.render(recipients.recipients[0].context())
    checked = CheckedMailing(mailing, compiled, recipients, sample)
    worker = worker_pool.start(concurrency=1, **smtp_server.environ(timeout=2))
    pool_before = worker_pool.pool_pids(worker)

    run_id = run_ops.create_run(session.ledger, checked, recipients.recipients, "test", "smtp")
    run_ops.enqueue(session, run_id, [(r.key, 1) for r in recipients.recipients])
    counts = wait_until_settled(session.ledger, run_id, timeout=90)

    assert (counts[states.SENT], counts[states.FAILED]) == (2, 2)
    failed = {
        r.key: r.last_reply for r in session.ledger.status(run_id).recipients if r.state == "failed"
    }
    assert failed["gemeente-0002"] == (
        "bericht.txt.j2: makes a value of 260,000,000 characters, more than a whole message "
        "may hold (10,000,000, DISTRIBUTIE_MAX_MESSAGE_BYTES)"
    )
    assert failed["gemeente-0003"].startswith("bericht.txt.j2: takes longer than 5 seconds")
    assert sorted(smtp_server.deliveries_by_address()) == [
        "burgemeester@g0001.example",
        "burgemeester@g0004.example",
    ]
    assert worker.poll() is None
    assert worker_pool.pool_pids(worker) == pool_before  # no pool process died
