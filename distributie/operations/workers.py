"""Running a worker in this process, the embedded workers of a long-running front end, and
asking how many are listening."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from distributie.operations.describe import transport_description
from distributie.operations.follow import worker_log
from distributie.operations.session import Session
from distributie.runtime.logs import configure_logging
from distributie.runtime.workers import WorkerSupervisor, supervised_workers
from distributie.settings import Settings

log = logging.getLogger(__name__)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"


def _log_start(settings: Settings, redis_url: str, concurrency: int) -> None:
    # Never a secret: the Redis URL is reduced to where it points.
    log.info(
        "worker starting",
        extra={
            "redis": _where(redis_url),
            "transport": transport_description(settings),
            "concurrency": concurrency,
            "smtp_max_connections": settings.smtp_max_connections,
            "rate_limit": settings.rate_limit or "none",
            "daily_limit": settings.daily_limit or "none",
            "max_attempts": settings.max_attempts,
            "send_lease": settings.send_lease,
            "batch_size": settings.batch_size,
        },
    )


def run_worker(
    settings: Settings, redis_url: str, concurrency: int | None, loglevel: str, quiet: bool
) -> None:
    """Consume the queue until stopped (SIGTERM: finish the current message, then stop)."""
    from distributie.delivery import tasks  # Celery is slow to import; only workers need it

    configure_logging(settings.log_level, settings.log_format)
    if quiet:
        # The embedded worker runs as whoever typed the command; the banner and the warning
        # about running as root are noise there.
        warnings.filterwarnings("ignore", message=".*superuser privileges.*")
    processes = concurrency or settings.worker_concurrency
    _log_start(settings, redis_url, processes)
    app = tasks.configure(settings, redis_url=redis_url)
    app.worker_main(
        [
            *(["--quiet"] if quiet else []),
            "worker",
            f"--concurrency={processes}",
            f"--loglevel={loglevel}",
            f"--queues={tasks.QUEUE}",
            # Unique per process, so `ping` counts every worker on a host.
            f"--hostname=distributie-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def workers_online(session: Session, timeout: float = 1.0) -> int:
    """How many workers answer a ping on this Redis."""
    from distributie.delivery import tasks

    tasks.configure(session.settings, redis_url=session.redis_url)
    return tasks.workers_online(timeout)


@contextmanager
def workers_while_serving(session: Session) -> Iterator[WorkerSupervisor | None]:
    """With the embedded default, a worker for as long as the block runs (started again when it
    dies, its log in DATA_DIR/worker.log); with DISTRIBUTIE_REDIS_URL, none: the deployment's
    own workers send."""
    if not session.embedded:
        yield None
        return
    concurrency = session.settings.worker_concurrency
    with supervised_workers(session.redis_url, concurrency, worker_log(session.settings)) as got:
        yield got
