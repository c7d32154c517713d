"""Workers for the duration of one command (the embedded default): started, then stopped warm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_workers(
    redis_url: str, concurrency: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A `distributie worker` process, stopped (warm, then hard) when the block ends.

    Its log goes to `log_path`, so the command's terminal shows only the command's own output.
    """
    env = dict(os.environ, DISTRIBUTIE_REDIS_URL=redis_url)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
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
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM (Celery's warm shutdown: the current message finishes), then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
