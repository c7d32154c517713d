"""Real Celery workers for tests: `distributie worker` processes that a test can start and kill.

Also the helpers to start a run in the test process and wait for the ledger to settle, so a test
reads: make a list, start workers, start a run, assert on the ledger and the SMTP server.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from distributie import states
from distributie.compose.checking import check_mailing
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.ledger import Ledger
from distributie.operations import runs
from distributie.operations.session import Session
from distributie.settings import Settings

__all__ = [
    "RunHandle",
    "WorkerPool",
    "children_of",
    "fast_settings_env",
    "session_for",
    "start_run",
    "wait_until_settled",
    "worker_pool",
    "write_recipients",
]

HEADER = [
    "gemeente",
    "aanhef",
    "titel",
    "voorletters",
    "tussenvoegsel",
    "achternaam",
    "email",
    "consultatiepunten",
]


def fast_settings_env(redis_url: str, outbox: Path) -> dict[str, str]:
    """Settings with recovery timeouts short enough for tests."""
    return {
        "DISTRIBUTIE_REDIS_URL": redis_url,
        "DISTRIBUTIE_OUTBOX_DIR": str(outbox),
        "DISTRIBUTIE_SMTP_TIMEOUT": "2",
        "DISTRIBUTIE_RETRY_DELAY": "0.2",
        "DISTRIBUTIE_RETRY_DELAY_MAX": "1",
        "DISTRIBUTIE_MAX_ATTEMPTS": "6",
        "DISTRIBUTIE_SEND_LEASE": "6",
        "DISTRIBUTIE_VISIBILITY_TIMEOUT": "8",
        "DISTRIBUTIE_BATCH_SIZE": "5",
    }


def write_recipients(path: Path, count: int, prefix: str = "Gemeente") -> Path:
    """A valid list for the bundled mailing with `count` fictional gemeenten."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for n in range(1, count + 1):
            writer.writerow(
                [
                    f"{prefix} {n:04d}",
                    "mevrouw" if n % 2 else "heer",
                    "",
                    "A.",
                    "van" if n % 3 == 0 else "",
                    f"Proef{n}",
                    f"burgemeester@g{n:04d}.example",
                    "Ondermijning|Cyberveiligheid" if n % 4 else "",
                ]
            )
    return path


def children_of(pid: int) -> list[int]:
    """Direct children of a process (the prefork pool of a worker), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces; the parent pid follows its closing ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass
class WorkerPool:
    """Worker processes started by a test; all stopped at the end of the test."""

    env: dict[str, str]
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self, concurrency: int = 2, wait: bool = True, **overrides: str
    ) -> subprocess.Popen[bytes]:
        """A worker process; with `wait`, only once it consumes the queue."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
        env.update(self.env)
        env.update(overrides)
        log_path = self.log_dir / f"worker-{len(self.processes)}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributie",
                "worker",
                "--quiet",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        if wait:
            self._wait_ready(process, log_path)
        return process

    @staticmethod
    def _wait_ready(process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
        # Celery logs "<name> ready." once its pool runs and it consumes the queue.
        deadline = time.monotonic() + timeout
        while b" ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{log_path.read_text()}")
            time.sleep(0.05)

    def pool_pids(self, process: subprocess.Popen[bytes], timeout: float = 20) -> list[int]:
        """The pool children of a worker, waiting until they exist."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = children_of(process.pid)
            if pids:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"worker {process.pid} started no pool processes")

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)

    def stop_all(self) -> None:
        self.kill_all(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        self.kill_all(signal.SIGKILL)
        for process in self.processes:
            process.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


@pytest.fixture
def worker_pool(redis_url: str, tmp_path: Path) -> Iterator[WorkerPool]:
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    pool = WorkerPool(fast_settings_env(redis_url, tmp_path / "outbox"), log_dir)
    yield pool
    pool.stop_all()


@dataclass(frozen=True)
class RunHandle:
    run_id: str
    session: Session  # the test's own session with the suite's Redis
    keys: list[str]
    emails: dict[str, str]  # recipient key -> address

    @property
    def ledger(self) -> Ledger:
        return self.session.ledger


def session_for(env: Mapping[str, str]) -> Session:
    """A session on the Redis in `env`, with the settings in `env` (as a worker would read)."""
    settings = Settings(**{k.removeprefix("DISTRIBUTIE_").lower(): v for k, v in env.items()})
    url = env["DISTRIBUTIE_REDIS_URL"]
    return Session(settings, Ledger.from_url(url), url, embedded=False)


def start_run(
    env: Mapping[str, str],
    recipients_csv: Path,
    mailing: Path = BUNDLED_MAILING,
    by: str = "test",
    plan: runs.RunPlan = runs.RunPlan(),
) -> RunHandle:
    """Check, create and enqueue a run from the test process, as `distributie send` does."""
    session = session_for(env)
    checked = check_mailing(mailing, recipients_csv, session.settings.max_message_bytes)
    chosen = checked.recipients.recipients
    run_id = runs.start_run(session, checked, chosen, by, plan)
    return RunHandle(run_id, session, [r.key for r in chosen], {r.key: r.email for r in chosen})


def wait_until_settled(ledger: Ledger, run_id: str, timeout: float = 60) -> dict[str, int]:
    """Counts once every recipient is terminal; fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        counts = ledger.counts(run_id)
        if not any(counts[s] for s in states.PENDING_STATES):
            return counts
        if time.monotonic() > deadline:
            stuck = [
                r for r in ledger.status(run_id).recipients if r.state in states.PENDING_STATES
            ][:3]
            details = "\n".join(f"{r.key} {r.state}: {r.history}" for r in stuck)
            raise AssertionError(f"run {run_id} not settled after {timeout} s: {counts}\n{details}")
        time.sleep(0.1)
