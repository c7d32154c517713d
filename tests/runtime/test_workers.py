"""The embedded workers of a command: `web` keeps one running for as long as it serves, starting
it again when it dies, and stopping leaves no worker process behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from distributie.runtime.processes import pid_alive
from distributie.runtime.workers import WorkerSupervisor, start_worker, stop_process
from tests.support.workers import children_of


def _wait_for(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_worker_that_dies_is_started_again(redis_url: str, tmp_path: Path) -> None:
    supervisor = WorkerSupervisor(redis_url, 1, tmp_path / "worker.log", restart_pause=0.2)
    try:
        first = supervisor.process
        os.killpg(first.pid, signal.SIGKILL)

        _wait_for(lambda: supervisor.process is not first and supervisor.alive())

        assert supervisor.restarts == 1
    finally:
        supervisor.stop()


def test_stopping_the_supervisor_leaves_no_worker_process(redis_url: str, tmp_path: Path) -> None:
    supervisor = WorkerSupervisor(redis_url, 2, tmp_path / "worker.log", restart_pause=0.2)
    _wait_for(lambda: len(children_of(supervisor.process.pid)) == 2)
    pool = children_of(supervisor.process.pid)

    supervisor.stop()

    assert not supervisor.alive()
    assert not any(pid_alive(pid) for pid in [supervisor.process.pid, *pool])
    time.sleep(0.5)
    assert supervisor.restarts == 0  # not started again once told to stop


def test_a_second_interrupt_while_stopping_kills_the_worker_at_once(
    redis_url: str, tmp_path: Path
) -> None:
    process = start_worker(redis_url, 1, tmp_path / "worker.log")
    _wait_for(lambda: bool(children_of(process.pid)))  # its SIGTERM handler is in place
    process.send_signal(signal.SIGSTOP)  # so a warm shutdown cannot finish now

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        try:
            stop_process(process, timeout=30)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the interrupt did not reach stop_process")
    finally:
        signal.signal(signal.SIGALRM, previous)

    assert process.poll() is not None
    assert not pid_alive(process.pid)
