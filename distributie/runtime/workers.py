"""Workers for the duration of one command (the embedded default): started, then stopped warm.

`send` runs one for as long as it follows its run (`embedded_workers`); `web` runs one for as
long as it serves, and starts it again when it dies (`supervised_workers`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# A worker that keeps dying is started again at most this often, so a broken setting does not
# become a busy loop of starts.
RESTART_PAUSE = 5.0


def start_worker(redis_url: str, concurrency: int, log_path: Path) -> subprocess.Popen[bytes]:
    """A `distributie worker` process on `redis_url`, its output appended to `log_path`."""
    env = dict(os.environ, DISTRIBUTIE_REDIS_URL=redis_url)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributie",
                "worker",
                "--quiet",
                "--concurrency",
                str(concurrency),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # Ctrl-C reaches the command, which then stops the worker
        )


@contextmanager
def embedded_workers(
    redis_url: str, concurrency: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A `distributie worker` process, stopped (warm, then hard) when the block ends.

    Its log goes to `log_path`, so the command's terminal shows only the command's own output.
    """
    process = start_worker(redis_url, concurrency, log_path)
    try:
        yield process
    finally:
        stop_process(process)


class WorkerSupervisor:
    """Keeps one embedded worker running: a thread starts a new one when it ends."""

    def __init__(
        self,
        redis_url: str,
        concurrency: int,
        log_path: Path,
        restart_pause: float = RESTART_PAUSE,
    ) -> None:
        self._arguments = (redis_url, concurrency, log_path)
        self.restart_pause = restart_pause
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.process = start_worker(*self._arguments)
        self.restarts = 0
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            if self.process.poll() is None:
                continue
            if self._stopping.wait(self.restart_pause):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.process = start_worker(*self._arguments)
                self.restarts += 1

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop watching, then stop the worker (warm: what it sends now is finished)."""
        with self._lock:
            self._stopping.set()
        self._thread.join()
        stop_process(self.process)


@contextmanager
def supervised_workers(
    redis_url: str, concurrency: int, log_path: Path
) -> Iterator[WorkerSupervisor]:
    """An embedded worker for as long as the block runs, started again whenever it dies."""
    supervisor = WorkerSupervisor(redis_url, concurrency, log_path)
    try:
        yield supervisor
    finally:
        supervisor.stop()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM (Celery's warm shutdown: the current message finishes), then SIGKILL. Another
    Ctrl-C while waiting kills it at once: a worker is never left behind."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
    except BaseException:
        _kill(process)
        raise


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
