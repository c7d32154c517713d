"""Mailing runs as an operator sees them: start one, follow it, resend, retry and cancel.

Also where the embedded default lives: with no DISTRIBUTIE_REDIS_URL a private Redis (and, for
`send`, a set of workers) runs for exactly as long as the command that needs it.
"""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis

from distributie import states
from distributie.checking import CheckedMailing
from distributie.errors import ConfigError, UsageError
from distributie.ledger import Ledger, NewRecipient, RunStatus, new_run_id
from distributie.message import message_id
from distributie.recipients import Recipient
from distributie.redis_server import embedded_redis
from distributie.settings import Settings


@dataclass(frozen=True)
class Session:
    ledger: Ledger
    redis_url: str
    embedded: bool


def operator_name(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def open_ledger(settings: Settings) -> Iterator[Session]:
    """The configured Redis, or the embedded private one under DISTRIBUTIE_DATA_DIR."""
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
        check_reachable(url)
        yield Session(Ledger.from_url(url), url, embedded=False)
        return
    with embedded_redis(settings.data_dir.resolve()) as url:
        ledger = Ledger.from_url(url)
        try:
            yield Session(ledger, url, embedded=True)
        finally:
            ledger.client.close()


def check_reachable(url: str) -> None:
    """Fail fast, and without the password, when the configured Redis cannot be used."""
    parts = urlsplit(url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.AuthenticationError:
        raise ConfigError(
            f"Redis at {where} refused the password in DISTRIBUTIE_REDIS_URL"
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        reason = type(exc).__name__ if url in str(exc) else str(exc)
        raise ConfigError(
            f"cannot reach Redis at {where} (DISTRIBUTIE_REDIS_URL): {reason}"
        ) from None
    finally:
        client.close()


@contextmanager
def embedded_workers(redis_url: str, concurrency: int) -> Iterator[subprocess.Popen[bytes]]:
    """A worker for the duration of one command, stopped (warm, then hard) when it ends."""
    env = dict(os.environ, DISTRIBUTIE_REDIS_URL=redis_url)
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
        stdout=subprocess.DEVNULL,  # Celery's shutdown chatter; errors still reach stderr
        start_new_session=True,  # Ctrl-C reaches the command, which then stops the worker itself
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def select_recipients(
    recipients: Sequence[Recipient], only: Sequence[str], limit: int | None
) -> list[Recipient]:
    chosen = list(recipients)
    if only:
        by_name = {r.gemeente.casefold(): r for r in recipients} | {r.key: r for r in recipients}
        missing = [name for name in only if name.strip().casefold() not in by_name]
        if missing:
            raise UsageError(
                "not in the recipient list: " + ", ".join(repr(name) for name in missing)
            )
        wanted = {by_name[name.strip().casefold()].key for name in only}
        chosen = [r for r in recipients if r.key in wanted]
    if limit is not None:
        chosen = chosen[:limit]
    return chosen


def create_run(
    ledger: Ledger,
    checked: CheckedMailing,
    recipients: Sequence[Recipient],
    created_by: str,
    transport: str,
) -> str:
    run_id = new_run_id()
    domain = checked.mailing.spec.sender.address.rpartition("@")[2]
    ledger.create_run(
        run_id,
        mailing_name=checked.mailing.spec.name,
        mailing_dir=str(checked.mailing.directory),
        bundle=checked.mailing.bundle,
        recipients_path=str(checked.recipients.path.resolve()),
        recipients_sha256=checked.recipients.sha256,
        created_by=created_by,
        transport=transport,
        recipients=[
            NewRecipient(r.key, r.gemeente, r.email, {"row": r.row, "fields": r.fields})
            for r in recipients
        ],
        message_id_for=lambda key, resend: message_id(run_id, key, resend, domain),
    )
    return run_id


def follow(
    ledger: Ledger,
    run_id: str,
    on_progress: Callable[[dict[str, int], int], None],
    poll: float = 0.25,
    until: Callable[[], bool] | None = None,
) -> dict[str, int]:
    """Wait until every recipient is in a terminal state, reporting counts as they change."""
    total = int(ledger.run_info(run_id).get("total") or 0)
    last: dict[str, int] = {}
    while True:
        counts = ledger.counts(run_id)
        if counts != last:
            on_progress(counts, total)
            last = counts
        if sum(counts[s] for s in states.TERMINAL_STATES) >= total:
            return counts
        if until is not None and until():
            return counts
        time.sleep(poll)


def require_run(ledger: Ledger, run_id: str | None) -> str:
    if run_id is None:
        latest = ledger.latest_run()
        if latest is None:
            raise UsageError("there are no runs yet: start one with `distributie send`")
        return latest
    if not ledger.run_exists(run_id):
        raise UsageError(f"there is no run {run_id!r}; `distributie runs` lists them")
    return run_id


def resend(ledger: Ledger, run_id: str, gemeente: str, to: str | None, by: str) -> tuple[str, int]:
    """Queue one recipient again; returns (recipient key, task sequence number)."""
    key = ledger.find_recipient(run_id, gemeente)
    if key is None:
        raise UsageError(f"run {run_id} has no recipient {gemeente!r}")
    verdict, value = ledger.requeue(run_id, key, by, to, "resend requested")
    if verdict != "queued":
        raise UsageError(
            f"{gemeente} is still {value} in run {run_id}: wait until it is sent, failed, "
            f"unknown or cancelled before resending"
        )
    return key, int(value)


def retry(ledger: Ledger, run_id: str, by: str) -> list[tuple[str, int]]:
    """Queue every failed and unknown recipient again."""
    status = ledger.status(run_id, with_history=False)
    queued = []
    for recipient in status.recipients:
        if recipient.state in states.RETRYABLE_BY_OPERATOR:
            verdict, value = ledger.requeue(run_id, recipient.key, by, None, "retry requested")
            if verdict == "queued":
                queued.append((recipient.key, int(value)))
    return queued


def cancel(ledger: Ledger, run_id: str, by: str) -> dict[str, int]:
    """Cancel what has not been sent; an attempt in progress finishes and is not retried."""
    results: dict[str, int] = {"cancelled": 0, "finishing": 0}
    for key in ledger.recipient_keys(run_id):
        verdict = ledger.cancel(run_id, key, by)
        if verdict in results:
            results[verdict] += 1
    return results


def status_json(status: RunStatus) -> dict[str, object]:
    """The public shape of `status --json`: change it only compatibly."""
    return {
        "run": status.run,
        "mailing": status.mailing,
        "created_at": status.created_at,
        "created_by": status.created_by,
        "recipients_sha256": status.recipients_sha256,
        "templates_sha256": status.templates_sha256,
        "recipients_path": status.recipients_path,
        "transport": status.transport,
        "counts": {s: status.counts.get(s, 0) for s in states.ALL_STATES},
        "recipients": [
            {
                "gemeente": r.gemeente,
                "email": r.email,
                "state": r.state,
                "attempts": r.attempts,
                "message_id": r.message_id,
                "last_reply": r.last_reply,
                "updated_at": r.updated_at,
                "waiting": r.waiting,
                "history": r.history,
            }
            for r in status.recipients
        ],
    }


def outbox_notice(settings: Settings) -> str | None:
    if settings.uses_outbox:
        return (
            f"DISTRIBUTIE_SMTP_HOST is not set: nothing is e-mailed. Messages are written to "
            f"{Path(settings.outbox_dir).resolve()}/<run>/ instead."
        )
    return None


def transport_description(settings: Settings) -> str:
    if settings.uses_outbox:
        return f"outbox {Path(settings.outbox_dir).resolve()}"
    return f"smtp {settings.smtp_host}:{settings.effective_smtp_port} ({settings.smtp_security})"
