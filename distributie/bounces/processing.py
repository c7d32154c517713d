"""Reading the bounce mailbox: every message is read, matched to the recipient it is about and
recorded in the ledger, and only then moved to distributie/verwerkt; what matches nobody, says
nothing about delivery or cannot be read goes to distributie/onbekend for a person to look at.
Nothing is deleted. One poller at a time across all hosts reads the mailbox.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import redis
from redis.exceptions import LockError
from redis.lock import Lock

from distributie import states
from distributie.bounces.mailbox import PROCESSED, UNKNOWN, BounceMailbox, Destination
from distributie.bounces.matching import Match, Matcher
from distributie.bounces.model import Outcome, Report, ReportKind
from distributie.bounces.report import parse_report
from distributie.errors import DistributieError, InvariantError
from distributie.ledger import Ledger
from distributie.ledger.keys import BOUNCE_POLLER
from distributie.ledger.records import ReportEvent

# The poller's lock lives this long unless renewed (after every message): a poller that died
# holding it stops nobody for longer.
POLLER_LEASE = 300.0
_SMTP_CODE = re.compile(r"^\s*([245]\d\d)(?![\d.])")
_OUTCOMES = {
    Outcome.BOUNCE: states.OUTCOME_BOUNCE,
    Outcome.DELAYED: states.OUTCOME_DELAYED,
    Outcome.AUTO_REPLY: states.OUTCOME_AUTO_REPLY,
}


class PollerBusy(DistributieError):
    """Another process is reading the bounce mailbox right now."""

    exit_code = 1


@dataclass(frozen=True)
class Handled:
    """What became of one message of the mailbox."""

    uid: int
    report_id: str
    kind: str  # a ReportKind value, or "too_large"
    destination: Destination
    outcome: str = ""  # bounce, delayed or auto_reply, when recorded
    match: Match | None = None
    gemeente: str = ""
    state: str = ""  # the recipient's state afterwards
    already: bool = False  # recorded by an earlier pass (that stopped before moving it)
    reply: str = ""  # what was recorded; for a message set aside, why
    subject: str = ""


@dataclass
class MailboxRead:
    """One pass over the mailbox."""

    where: str  # host:port
    folder: str
    processed_folder: str
    unknown_folder: str
    handled: list[Handled] = field(default_factory=list)

    @property
    def recorded(self) -> list[Handled]:
        return [h for h in self.handled if h.destination == PROCESSED]

    @property
    def set_aside(self) -> list[Handled]:
        return [h for h in self.handled if h.destination == UNKNOWN]

    def recorded_by_outcome(self) -> Counter[str]:
        return Counter(h.outcome for h in self.recorded)

    def by_kind(self, handled: list[Handled]) -> Counter[str]:
        return Counter(h.kind for h in handled)


def reply_of(report: Report) -> str:
    """What the ledger keeps of a report: the diagnostic with its status code, or an
    auto-reply's first line."""
    if report.outcome is Outcome.AUTO_REPLY:
        return report.first_line or report.subject or "automatic reply"
    status, diagnostic = report.status, report.diagnostic
    if diagnostic and status and status not in diagnostic:
        return f"{status} {diagnostic}"
    if diagnostic or status:
        return diagnostic or f"{status}"
    return "delivery failed" if report.outcome is Outcome.BOUNCE else "delivery delayed"


def event_for(report: Report, match: Match) -> ReportEvent:
    if report.outcome is None:
        raise InvariantError("only a report with an outcome is recorded")
    auto_reply = report.outcome is Outcome.AUTO_REPLY  # its words are no server's reply
    code = None if auto_reply else _SMTP_CODE.match(report.diagnostic or "")
    return ReportEvent(
        report_id=report.report_id,
        run=match.run,
        key=match.key,
        outcome=_OUTCOMES[report.outcome],
        method=match.method,
        kind=report.kind.value,
        reply=reply_of(report),
        status="" if auto_reply else report.status or "",
        code=int(code.group(1)) if code else None,
        resend=match.resend,
        attempt=match.attempt,
    )


class MailboxReader:
    """Reads, matches, records and sorts the messages of one mailbox into one ledger."""

    def __init__(self, ledger: Ledger, matcher: Matcher, worker: str) -> None:
        self._ledger = ledger
        self._matcher = matcher
        self._worker = worker

    def read(
        self,
        mailbox: BounceMailbox,
        keep_lock: Callable[[], None] = lambda: None,
        recorded: Callable[[Handled], None] = lambda handled: None,
    ) -> MailboxRead:
        """One pass over the mailbox's folder. `recorded` is called after a message is
        recorded and before it is moved (where a crash leaves a recorded message in the
        folder; the next pass finds it recorded, changes nothing, and moves it)."""
        folders = mailbox.ensure_folders()
        result = MailboxRead(mailbox.where, mailbox.folder, folders.processed, folders.unknown)
        for fetched in mailbox.fetch_unprocessed():
            if fetched.truncated:
                report = parse_report(fetched.raw)
                handled = Handled(
                    fetched.uid,
                    report.report_id,
                    "too_large",
                    UNKNOWN,
                    reply=f"too large to read here ({fetched.size} bytes)",
                    subject=report.subject or "",
                )
            else:
                handled = self.handle(fetched.uid, parse_report(fetched.raw))
            if handled.destination == PROCESSED:
                recorded(handled)
            mailbox.move(fetched.uid, handled.destination)
            result.handled.append(handled)
            keep_lock()
        return result

    def handle(self, uid: int, report: Report) -> Handled:
        """Record what one report says, or say why it is set aside."""
        subject = report.subject or ""
        aside = Handled(uid, report.report_id, report.kind.value, UNKNOWN, subject=subject)
        if report.kind is ReportKind.UNREADABLE:
            return _aside(aside, report.reason or "cannot be read")
        if report.outcome is None:
            return _aside(aside, "says nothing about a delivery (no bounce, delay or auto-reply)")
        match = self._matcher.match(report)
        if match is None:
            return _aside(aside, "matches no recipient of any run")
        got = self._ledger.record_report(event_for(report, match), self._worker)
        if got.verdict == "missing":
            return _aside(aside, "matches no recipient of any run")
        return Handled(
            uid,
            report.report_id,
            report.kind.value,
            PROCESSED,
            outcome=_OUTCOMES[report.outcome],
            match=match,
            gemeente=got.gemeente,
            state=got.state,
            already=got.verdict == "already",
            reply=reply_of(report),
            subject=subject,
        )


def _aside(handled: Handled, reason: str) -> Handled:
    return Handled(
        handled.uid, handled.report_id, handled.kind, UNKNOWN, reply=reason, subject=handled.subject
    )


@contextmanager
def one_poller(client: redis.Redis, wait: float = 0.0) -> Iterator[Callable[[], None]]:
    """Hold the one poller's lock across all hosts, waiting at most `wait` seconds for it;
    PollerBusy when another holds it. Yields a function that renews the lock."""
    lock = Lock(
        client, BOUNCE_POLLER, timeout=POLLER_LEASE, blocking=wait > 0, blocking_timeout=wait
    )
    if not lock.acquire():
        raise PollerBusy(
            "another process is reading the bounce mailbox right now; try again in a minute"
        )

    def keep() -> None:
        with suppress(LockError):  # lost after a long stall: the reading is idempotent anyway
            lock.extend(POLLER_LEASE, replace_ttl=True)

    try:
        yield keep
    finally:
        with suppress(LockError):
            lock.release()
