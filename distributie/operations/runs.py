"""Runs as an operator sees them: start one, resend one recipient, retry the failed, cancel."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from distributie import states
from distributie.compose.addresses import AddressError, normalise_address
from distributie.compose.addressing import message_id
from distributie.compose.checking import CheckedMailing
from distributie.compose.recipients import Recipient
from distributie.errors import UsageError
from distributie.ledger import Ledger, NewRecipient, NewRun, Requeued, new_run_id
from distributie.operations.describe import transport_description
from distributie.operations.session import Session

# (recipient key, task sequence number): what a task message carries per recipient.
QueuedItem = tuple[str, int]
# The Celery app is one per process; the web page enqueues from several threads.
_enqueue_lock = threading.Lock()


class InvalidAddress(UsageError):
    """An address an operator typed (a corrected address, a test address) is not usable."""

    def __init__(self, address: str, reason: str, option: str = "--to") -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"{option} {address!r} is not a valid e-mail address: {reason}")


class ResendRefused(UsageError):
    """The recipient is still queued or being sent: a resend now could send it twice."""

    def __init__(self, gemeente: str, state: str, run_id: str) -> None:
        self.gemeente = gemeente
        self.state = state
        super().__init__(
            f"{gemeente} is still {state} in run {run_id}: wait until it is sent, failed, "
            f"unknown, bounced or cancelled before resending"
        )


@dataclass(frozen=True)
class Requeue:
    """Recipients of a run queued again (by resend or retry)."""

    run_id: str
    queued: list[QueuedItem]


@dataclass(frozen=True)
class RunPlan:
    """How a run starts: at once, at a time, after approval; a proefzending to one address."""

    test_to: str | None = None  # a test run: every message to this address, marked [PROEF]
    release_at: datetime | None = None
    needs_approval: bool = False

    @property
    def state(self) -> str:
        if self.needs_approval:
            return states.RUN_AWAITING_APPROVAL
        return states.RUN_SCHEDULED if self.release_at else states.RUN_ACTIVE


def create_run(
    ledger: Ledger,
    checked: CheckedMailing,
    recipients: Sequence[Recipient],
    created_by: str,
    transport: str,
    plan: RunPlan = RunPlan(),
) -> str:
    """Store a run with its mailing and every chosen recipient as `queued`; returns its id."""
    run_id = new_run_id()
    domain = checked.mailing.spec.sender.domain
    run = NewRun(
        id=run_id,
        mailing=checked.mailing.spec.name,
        mailing_dir=str(checked.mailing.directory),
        recipients_path=str(checked.recipients.path.resolve()),
        recipients_sha256=checked.recipients.sha256,
        created_by=created_by,
        transport=transport,
        kind=states.RUN_KIND_TEST if plan.test_to else states.RUN_KIND_MAILING,
        state=plan.state,
        release_at=plan.release_at.timestamp() if plan.release_at else None,
        approval_required=plan.needs_approval,
    )
    ledger.create_run(
        run,
        checked.mailing.bundle,
        [
            NewRecipient(
                r.key, r.gemeente, plan.test_to or r.email, {"row": r.row, "fields": r.fields}
            )
            for r in recipients
        ],
        lambda key, resend: message_id(run_id, key, resend, domain),
    )
    return run_id


def enqueue(session: Session, run_id: str, items: Sequence[QueuedItem]) -> None:
    """Hand recipients to the workers, in batches of DISTRIBUTIE_BATCH_SIZE, and confirm it to
    the ledger. Whoever queues recipients in the ledger calls this next: if it never runs (the
    process was killed), the workers' repair duty publishes them after
    DISTRIBUTIE_REQUEUE_AFTER (delivery/repair.py)."""
    from distributie.delivery import tasks  # Celery is slow to import; not every command needs it

    with _enqueue_lock:
        tasks.configure(session.settings, redis_url=session.redis_url)
        tasks.enqueue(run_id, items, session.settings.batch_size)
    session.ledger.published(run_id, items)


def start_run(
    session: Session,
    checked: CheckedMailing,
    recipients: Sequence[Recipient],
    by: str,
    plan: RunPlan = RunPlan(),
    on_created: Callable[[str], None] | None = None,
) -> str:
    """Create the run and, unless it waits for approval or its time, queue every recipient.

    `on_created` hears the run id as soon as the run exists, before the recipients are queued.
    """
    transport = transport_description(session.settings)
    run_id = create_run(session.ledger, checked, recipients, by, transport, plan)
    if on_created is not None:
        on_created(run_id)
    if plan.state == states.RUN_ACTIVE:
        enqueue(session, run_id, [(r.key, 1) for r in recipients])
    return run_id


def require_run(ledger: Ledger, run_id: str | None) -> str:
    """The run asked for (the latest when None), or a UsageError saying there is none."""
    if run_id is None:
        latest = ledger.latest_run()
        if latest is None:
            raise UsageError("there are no runs yet: start one with `distributie send`")
        return latest
    if not ledger.run_exists(run_id):
        raise UsageError(f"there is no run {run_id!r}; `distributie runs` lists them")
    return run_id


def valid_address(address: str, option: str = "--to") -> str:
    """An address typed by an operator, normalised, or a UsageError saying what is wrong."""
    try:
        return normalise_address(address)
    except AddressError as exc:
        raise InvalidAddress(address, str(exc), option) from None


def resend(session: Session, run: str, gemeente: str, to: str | None, by: str) -> Requeue:
    """Queue one recipient again (to a corrected address if given) and hand it to the workers."""
    ledger = session.ledger
    run_id = require_run(ledger, run)
    key = ledger.find_recipient(run_id, gemeente)
    if key is None:
        raise UsageError(f"run {run_id} has no recipient {gemeente!r}")
    result = ledger.requeue(run_id, key, by, to, "resend requested")
    if not isinstance(result, Requeued):
        raise ResendRefused(gemeente, result.state, run_id)
    enqueue(session, run_id, [(key, result.seq)])
    return Requeue(run_id, [(key, result.seq)])


def retry(session: Session, run: str, by: str, bounced: bool = False) -> Requeue:
    """Queue every failed and unknown recipient again (with `bounced`, the bounced ones too)
    and hand them to the workers."""
    ledger = session.ledger
    run_id = require_run(ledger, run)
    wanted = states.RETRYABLE_BY_OPERATOR
    if bounced:
        wanted = wanted | states.RETRYABLE_WHEN_BOUNCED
    queued: list[QueuedItem] = []
    for recipient in ledger.status(run_id, with_history=False).recipients:
        if recipient.state in wanted:
            result = ledger.requeue(run_id, recipient.key, by, None, "retry requested")
            if isinstance(result, Requeued):
                queued.append((recipient.key, result.seq))
    if queued:
        enqueue(session, run_id, queued)
    return Requeue(run_id, queued)


@dataclass(frozen=True)
class Cancelled:
    run_id: str
    cancelled: int  # stopped before they were sent
    finishing: int  # being sent now: that attempt finishes and is not retried


def cancel(session: Session, run: str, by: str) -> Cancelled:
    """Cancel what has not been sent; an attempt in progress finishes and is not retried."""
    ledger = session.ledger
    run_id = require_run(ledger, run)
    verdicts = [ledger.cancel(run_id, key, by) for key in ledger.recipient_keys(run_id)]
    return Cancelled(run_id, verdicts.count("cancelled"), verdicts.count("finishing"))
