"""What a report says: its kind, what it means for each recipient, and what it returns of the
original, in the order the integrator matches on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from distributie.bounces.message_id import SentMessageId, parse_message_id


class ReportKind(StrEnum):
    """What came back."""

    DSN = "dsn"  # a delivery status notification (RFC 3464), with message/delivery-status
    NDR = "ndr"  # a Microsoft 365 / Exchange non-delivery report
    TEXT_BOUNCE = "text_bounce"  # a bounce in plain words (Postfix, Exim, Gmail, qmail)
    AUTO_REPLY = "auto_reply"  # an out-of-office or other automatic reply
    UNREADABLE = "unreadable"  # cannot be read as a message; `reason` says why
    NOT_A_REPORT = "not_a_report"  # a readable message that is none of the above


class Outcome(StrEnum):
    """What a report means for a recipient; the ledger's event outcomes have the same names."""

    BOUNCE = "bounce"  # permanent failure: Action failed, or status 5.x.x
    DELAYED = "delayed"  # temporary: Action delayed, or status 4.x.x; still being tried
    AUTO_REPLY = "auto_reply"  # the message arrived and someone's mailbox answered


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient's part of a report. Addresses are lower case, without angle brackets."""

    final_recipient: str | None
    original_recipient: str | None = None
    action: str | None = None  # failed, delayed, delivered, relayed, expanded (lower case)
    status: str | None = None  # enhanced status code, e.g. "5.1.1" or "5.7.350"
    diagnostic: str | None = None  # the remote server's words, one line
    remote_mta: str | None = None
    outcome: Outcome | None = None  # None: delivered, relayed, or nothing said

    @property
    def address(self) -> str | None:
        """The address to match on: Original-Recipient (what was sent to) before
        Final-Recipient (where it ended up after forwarding)."""
        return self.original_recipient or self.final_recipient


@dataclass(frozen=True)
class ReturnedOriginal:
    """The headers of the message the report is about, as the report returns them."""

    message_id: str | None = None
    run: str | None = None  # X-Distributie-Run
    recipient: str | None = None  # X-Distributie-Recipient: the gemeente, decoded
    to: str | None = None
    subject: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Report:
    """Everything distributie needs from one message in the bounce mailbox."""

    kind: ReportKind
    report_id: str  # the report's own Message-ID, else "sha256:<hex of the bytes>"
    outcome: Outcome | None = None  # the strongest of the recipients' outcomes
    recipients: tuple[RecipientStatus, ...] = ()
    original: ReturnedOriginal | None = None
    in_reply_to: tuple[str, ...] = ()  # ids of In-Reply-To, then References newest first
    subject: str | None = None
    sender: str | None = None  # the From header, cleaned
    first_line: str | None = None  # an auto-reply's first meaningful line
    reason: str | None = None  # why it is UNREADABLE
    size: int = 0
    details: tuple[str, ...] = field(default=())  # how it was classified, for the curious

    @property
    def status(self) -> str | None:
        """The status code of the first recipient with the report's outcome."""
        first = self._first_with_outcome()
        return first.status if first else None

    @property
    def diagnostic(self) -> str | None:
        """The diagnostic of the first recipient with the report's outcome (for an
        auto-reply: its first line)."""
        if self.outcome is Outcome.AUTO_REPLY:
            return self.first_line
        first = self._first_with_outcome()
        return first.diagnostic if first else None

    @property
    def message_ids(self) -> tuple[str, ...]:
        """Ids to look up first, best first: the returned original's Message-ID, then the
        report's In-Reply-To and References."""
        ids = [self.original.message_id] if self.original and self.original.message_id else []
        ids += [i for i in self.in_reply_to if i not in ids]
        return tuple(ids)

    @property
    def sent_message_ids(self) -> tuple[SentMessageId, ...]:
        """Those of message_ids that have distributie's form, in the same order."""
        parsed = (parse_message_id(i) for i in self.message_ids)
        return tuple(p for p in parsed if p is not None)

    @property
    def addresses(self) -> tuple[str, ...]:
        """Recipient addresses with an outcome, for matching by address (the last resort)."""
        found: list[str] = []
        for recipient in self.recipients:
            for address in (recipient.original_recipient, recipient.final_recipient):
                if recipient.outcome is not None and address and address not in found:
                    found.append(address)
        return tuple(found)

    def _first_with_outcome(self) -> RecipientStatus | None:
        return next((r for r in self.recipients if r.outcome is self.outcome), None)
