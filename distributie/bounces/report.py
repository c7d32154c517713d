"""parse_report: what one message from the bounce mailbox says, as a Report. Never raises: a
message that cannot be read is a Report of kind UNREADABLE with the reason."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from email.message import Message
from email.utils import getaddresses, parseaddr

from distributie.bounces.autoreply import auto_reply_signals, first_meaningful_line
from distributie.bounces.dsn import address_field, delivery_statuses
from distributie.bounces.message_id import message_ids_in
from distributie.bounces.mime import Unreadable, body_text, header, header_raw, parse_bytes
from distributie.bounces.model import (
    Outcome,
    RecipientStatus,
    Report,
    ReportKind,
    ReturnedOriginal,
)
from distributie.bounces.original import returned_original
from distributie.bounces.textbounce import is_exchange_ndr, looks_like_bounce, read_text_bounce

__all__ = [
    "Outcome",
    "RecipientStatus",
    "Report",
    "ReportKind",
    "ReturnedOriginal",
    "parse_report",
]

_ORDER = (Outcome.BOUNCE, Outcome.DELAYED, Outcome.AUTO_REPLY)


def parse_report(raw: bytes) -> Report:
    """Read one message as it came from the mailbox (its exact bytes)."""
    report_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        message = parse_bytes(raw)
        report_id = _own_id(message) or report_id
        return _read(message, report_id, len(raw))
    except Unreadable as exc:
        reason = exc.reason
    except Exception as exc:
        # Hostile input can reach corners of the email package and flufl.bounce that raise
        # anything (RecursionError on deep nesting, among others); such a report goes to a
        # person, and never stops the poller.
        reason = f"cannot be read: {type(exc).__name__}"
    return Report(ReportKind.UNREADABLE, report_id, reason=reason, size=len(raw))


def _own_id(message: Message) -> str | None:
    ids = message_ids_in(header_raw(message, "Message-ID"))
    return ids[0] if ids else None


def _replied_to(message: Message) -> tuple[str, ...]:
    """In-Reply-To, then References from the newest (last) to the oldest."""
    ids = message_ids_in(header_raw(message, "In-Reply-To"))
    for found in reversed(message_ids_in(header_raw(message, "References"))):
        if found not in ids:
            ids.append(found)
    return tuple(ids)


def _read(message: Message, report_id: str, size: int) -> Report:
    subject = header(message, "Subject", 300)
    sender = header(message, "From", 300)
    text = body_text(message)
    base = Report(
        ReportKind.NOT_A_REPORT,
        report_id,
        subject=subject,
        sender=sender,
        in_reply_to=_replied_to(message),
        original=returned_original(message, text),
        size=size,
    )
    ndr = is_exchange_ndr(message, subject)
    statuses = delivery_statuses(message)
    recipients = tuple(r for status in statuses for r in status.recipients)
    if statuses and (recipients or not ndr):
        if not any(r.outcome or r.action for r in recipients):
            raise Unreadable("a delivery report without Action or Status for any recipient")
        kind = ReportKind.NDR if ndr else ReportKind.DSN
        ids = [i for status in statuses for i in status.original_message_ids]
        original = base.original
        if ids and (original is None or original.message_id is None):
            original = replace(original or ReturnedOriginal(), message_id=ids[0])
        return replace(
            base,
            kind=kind,
            outcome=_strongest(recipients),
            recipients=recipients,
            original=original,
        )
    if ndr or looks_like_bounce(message, subject, sender):
        recipients = read_text_bounce(message, text, subject, _addresses_of(base.original))
        kind = ReportKind.NDR if ndr else ReportKind.TEXT_BOUNCE
        return replace(base, kind=kind, outcome=_strongest(recipients), recipients=recipients)
    signals = auto_reply_signals(message, subject)
    if signals:
        address = address_field(parseaddr(sender or "")[1])
        return replace(
            base,
            kind=ReportKind.AUTO_REPLY,
            outcome=Outcome.AUTO_REPLY,
            recipients=(RecipientStatus(address, outcome=Outcome.AUTO_REPLY),),
            first_line=first_meaningful_line(text),
            details=tuple(signals),
        )
    return base


def _addresses_of(original: ReturnedOriginal | None) -> list[str]:
    if original is None or original.to is None:
        return []
    found = (address_field(address) for _, address in getaddresses([original.to])[:10])
    return [a for a in found if a]


def _strongest(recipients: tuple[RecipientStatus, ...]) -> Outcome | None:
    outcomes = {r.outcome for r in recipients}
    return next((o for o in _ORDER if o in outcomes), None)
