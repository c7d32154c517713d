"""One attempt at one recipient, from its claim to its recorded outcome: what goes out, how it
ended, and what the ledger keeps of it."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

from distributie import states
from distributie.compose.message import ComposedMessage, format_date
from distributie.delivery.transport import SendError, TransientSendError, UnknownOutcomeError
from distributie.ledger import Claim, SentMessage


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, as the ledger records it."""

    state: str
    outcome: str
    reply: str
    code: int | None = None


@dataclass(frozen=True)
class Outgoing:
    """What goes out: `prefix + message.data`, the message built with an explicit `date`.

    `prefix` is the DKIM-Signature header line(s) (b"" without DKIM). The ledger records the
    date, the prefix and the sha256 of `data` with the attempt, so the archive rebuilds
    `prefix + build_message(rendered, addressing, date)` byte for byte without the key.
    """

    message: ComposedMessage
    date: datetime
    data: bytes
    prefix: bytes = b""


@dataclass
class Attempt:
    """One attempt at one recipient, from its claim to its recorded outcome."""

    run_id: str
    key: str
    claim: Claim
    started: float
    message_id: str = ""
    end_of_data_sent: bool = False  # after this, the outcome may be "accepted"
    sent: SentMessage | None = None  # what is handed over, recorded at the end of DATA


def sent_message(attempt: Attempt, outgoing: Outgoing) -> SentMessage:
    """The ledger's record of what this attempt hands to the server (see `Outgoing`)."""
    return SentMessage(
        attempt=attempt.claim.attempt,
        resend=attempt.claim.resend,
        message_id=attempt.message_id,
        email=attempt.claim.email,
        date=format_date(outgoing.date),
        sha256=hashlib.sha256(outgoing.data).hexdigest(),
        size=len(outgoing.data),
        prefix=base64.b64encode(outgoing.prefix).decode("ascii"),
    )


def outcome_of(exc: SendError) -> Outcome:
    code = exc.reply.code
    if isinstance(exc, TransientSendError):
        return Outcome(states.RETRYING, states.OUTCOME_TRANSIENT, str(exc.reply), code)
    if isinstance(exc, UnknownOutcomeError):
        return Outcome(states.UNKNOWN, states.OUTCOME_UNKNOWN, str(exc.reply), code)
    return Outcome(states.FAILED, states.OUTCOME_PERMANENT, str(exc.reply), code)
