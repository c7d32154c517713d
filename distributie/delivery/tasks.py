"""The Celery app and its thin tasks: they carry ids, the ledger and `sending` do the work.

Task messages are hints, the ledger is the truth: a message delivered twice, late or after its
recipient was cancelled is refused by the ledger's claim, so Celery's at-least-once delivery
(acks_late, redelivery after a lost worker) never becomes a duplicate e-mail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from celery import Celery, signals

from distributie import states
from distributie.delivery.duties import Duty, DutyRunner
from distributie.delivery.repair import repair_lost_tasks
from distributie.delivery.sending import Later, RecipientSender
from distributie.delivery.throttle import RedisConnectionGate
from distributie.delivery.transport import make_transport
from distributie.errors import ConfigError
from distributie.ledger import Ledger, RunChanged
from distributie.runtime.processes import holder_name
from distributie.runtime.redis_server import celery_url
from distributie.settings import Settings, load_settings

QUEUE = "distributie"
log = logging.getLogger(__name__)


def celery_config(settings: Settings, redis_url: str) -> dict[str, Any]:
    return {
        "broker_url": celery_url(redis_url),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # Check for messages of dead workers often enough for the visibility timeout.
            "unacked_restore_interval": max(1.0, min(10.0, settings.visibility_timeout / 4)),
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
        # Ack after the work is done, and put the message back when the worker process dies:
        # the ledger decides what a redelivered message may still do.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A task that failed (Redis unreachable for longer than the client's retries, or a bug)
        # stays unacked and comes back after the visibility timeout, rather than vanishing
        # with recipients still queued.
        "task_acks_on_failure_or_timeout": False,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": QUEUE,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
    }


app = Celery("distributie")
_settings: Settings | None = None
_redis_url = ""


def configure(settings: Settings, redis_url: str | None = None) -> Celery:
    """Point the app at a Redis: the given URL (embedded) or DISTRIBUTIE_REDIS_URL."""
    global _settings, _redis_url
    if redis_url is None:
        if settings.redis_url is None:
            raise ConfigError("DISTRIBUTIE_REDIS_URL is not set")
        redis_url = settings.redis_url.get_secret_value()
    _settings, _redis_url = settings, redis_url
    app.conf.update(celery_config(settings, redis_url))
    return app


_sender: RecipientSender | None = None


def recipient_sender() -> RecipientSender:
    """One per worker process, made after the fork: sockets must not be shared across it."""
    global _sender
    if _sender is None:
        settings = _settings or load_settings()
        if not _redis_url:
            configure(settings)
        ledger = Ledger.from_url(_redis_url)
        gate = None
        if not settings.uses_outbox:
            gate = RedisConnectionGate(
                ledger.client,
                holder_name(),
                settings.smtp_max_connections,
                wait=settings.send_lease / 2,
            )
        _sender = RecipientSender(settings, ledger, make_transport(settings, gate), gate)
    return _sender


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close_transport(**_: Any) -> None:
    if _sender is not None:
        _sender.transport.close()


# How often a worker looks for scheduled runs whose time has come.
RELEASE_EVERY = 5.0


def release_due_runs(ledger: Ledger, batch_size: int) -> list[str]:
    """Hand every scheduled run whose time has come (and that is approved) to the workers.

    The ledger releases a run once, whoever asks; a releaser killed after that and before the
    enqueue leaves recipients without a task, which the requeue repair finds.
    """
    released = []
    for run_id in ledger.due_runs(time.time()):
        result = ledger.control_run(run_id, states.OUTCOME_RELEASED, holder_name())
        if isinstance(result, RunChanged):
            enqueue(run_id, result.to_send, batch_size)
            ledger.published(run_id, result.to_send)
            released.append(run_id)
            log.info("released a scheduled run", extra={"run": run_id})
    return released


def worker_duties(settings: Settings, ledger: Ledger) -> list[Duty]:
    """What the workers of this deployment do on a timer, one host at a time (duties.py)."""
    duties = [
        Duty("release", RELEASE_EVERY, lambda: release_due_runs(ledger, settings.batch_size)),
        Duty(
            "requeue-lost",
            # Often enough that a lost task waits little longer than DISTRIBUTIE_REQUEUE_AFTER.
            every=max(1.0, min(60.0, settings.requeue_after / 4)),
            run=lambda: repair_lost_tasks(
                ledger,
                lambda run_id, items: enqueue(run_id, items, settings.batch_size),
                settings.requeue_after,
                holder_name(),
            ),
        ),
    ]
    if settings.uses_bounce_mailbox:
        from distributie.bounces.poller import BouncePoller  # imapclient: only when configured

        poller = BouncePoller(settings, ledger, holder_name())
        duties.append(Duty("bounces", settings.bounce_poll_seconds, poller))
    return duties


_duty_runner: DutyRunner | None = None


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _start_duties(**_: Any) -> None:
    """In the worker's main process, once its pool runs: not in every pool process."""
    global _duty_runner
    settings = _settings or load_settings()
    if not _redis_url:
        configure(settings)
    ledger = Ledger.from_url(_redis_url)
    duties = worker_duties(settings, ledger)
    if duties:
        _duty_runner = DutyRunner(ledger.client, duties, holder_name())
        _duty_runner.start()


@signals.worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stop_duties(**_: Any) -> None:
    if _duty_runner is not None:
        _duty_runner.stop()


def schedule(run_id: str, key: str, seq: int, countdown: float) -> None:
    send_batch.apply_async((run_id, [[key, seq]]), countdown=countdown)


@app.task(name="distributie.send_batch", ignore_result=True)  # type: ignore[untyped-decorator]
def send_batch(run_id: str, items: Sequence[Sequence[Any]]) -> None:
    """Send a few recipients of a run: [[recipient key, task sequence number], ...]."""
    sender = recipient_sender()
    errors: list[Exception] = []
    batch = [(str(key), int(seq)) for key, seq in items]
    for index, (key, seq) in enumerate(batch):
        # With this recipient's outcome, the ledger hands out the claim of the next one.
        then = batch[index + 1] if index + 1 < len(batch) else None
        # One recipient's bug must not strand the others of the batch in 'queued'.
        try:
            later = sender.send(run_id, key, seq, schedule, then)
        except Exception as exc:
            log.exception("sending failed with an error", extra={"run": run_id, "gemeente": key})
            errors.append(exc)
            continue
        if isinstance(later, Later):
            schedule(run_id, key, later.seq, later.countdown)
    sender.hand_over_connection()
    if errors:
        raise errors[0]


def enqueue(run_id: str, items: Sequence[tuple[str, int]], batch_size: int) -> int:
    """Publish a run's recipients in batches over one broker connection; returns batch count."""
    batches = [list(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
    with app.producer_or_acquire() as producer:
        for batch in batches:
            send_batch.apply_async((run_id, [[k, s] for k, s in batch]), producer=producer)
    return len(batches)


def workers_online(timeout: float = 1.0) -> int:
    replies = app.control.ping(timeout=timeout)
    return len(replies or [])
