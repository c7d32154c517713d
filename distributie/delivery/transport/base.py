"""What every transport shares: the envelope, the server's reply, the interface, and the three
ways an attempt can end badly (transient, permanent, unknown)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Envelope:
    sender: str  # MAIL FROM
    recipients: tuple[str, ...]  # RCPT TO
    run_id: str
    recipient_key: str  # file stem in the outbox
    # The message's lines all end in CRLF already (compose builds it so): SMTP need not check.
    crlf: bool = False


@dataclass(frozen=True)
class Reply:
    code: int | None
    text: str

    def __str__(self) -> str:
        """As the ledger and the operator see it: "250 2.0.0 Ok" or the text alone."""
        return self.text if self.code is None else f"{self.code} {self.text}"


class Transport(Protocol):
    def send(
        self, envelope: Envelope, message: bytes, before_end_of_data: Callable[[], None]
    ) -> Reply:
        """Hand the message over; call `before_end_of_data` just before it can be accepted.

        If that callback raises, the message must not be accepted (no final dot, no file).
        """

    def close(self) -> None: ...


class ConnectionGate(Protocol):
    """Caps open SMTP connections across all workers (e.g. a Redis semaphore)."""

    def acquire(self) -> None:
        """Block until this process may hold one connection."""

    def release(self) -> None:
        """Give the connection slot back."""


class SendError(Exception):
    """The message was not (known to be) accepted; `reply` is what the server or network said."""

    def __init__(self, reply: Reply) -> None:
        # args=(reply,) keeps the exception picklable (Celery may pickle it).
        super().__init__(reply)
        self.reply = reply

    def __str__(self) -> str:
        return str(self.reply)


class TransientSendError(SendError):
    """Not accepted this time; trying again later may work."""


class PermanentSendError(SendError):
    """Not accepted and never will be: do not retry this message."""


class UnknownOutcomeError(SendError):
    """The end of DATA went out but no verdict came back: the server may have accepted it."""


class SMTPConfigurationError(PermanentSendError):
    """Every message would fail the same way (certificate, no STARTTLS, login, refused session).

    A PermanentSendError, but the cause is the setup rather than the message, so a caller may
    prefer to stop the run instead of failing recipient after recipient.
    """


class CertificateError(SMTPConfigurationError):
    """The server's TLS certificate could not be verified; the reply text says why."""


def check_envelope(envelope: Envelope) -> None:
    """No address may smuggle SMTP syntax into the dialogue, nor a path into the outbox."""
    if not envelope.recipients:
        raise PermanentSendError(Reply(None, "an envelope needs at least one recipient"))
    for address in (envelope.sender, *envelope.recipients):
        if any(c in address for c in "\r\n\0<>"):
            raise PermanentSendError(Reply(None, f"invalid e-mail address {address!r}"))
