"""Transports hand one finished message over: to an SMTP relay, or to the outbox folder."""

from distributie.delivery.transport.base import (
    CertificateError,
    ConnectionGate,
    Envelope,
    PermanentSendError,
    Reply,
    SendError,
    SMTPConfigurationError,
    TransientSendError,
    Transport,
    UnknownOutcomeError,
)
from distributie.delivery.transport.outbox import OutboxTransport
from distributie.delivery.transport.smtp import SMTPTransport
from distributie.settings import Settings

__all__ = [
    "CertificateError",
    "ConnectionGate",
    "Envelope",
    "OutboxTransport",
    "PermanentSendError",
    "Reply",
    "SMTPConfigurationError",
    "SMTPTransport",
    "SendError",
    "TransientSendError",
    "Transport",
    "UnknownOutcomeError",
    "make_transport",
]


def make_transport(settings: Settings, connection_gate: ConnectionGate | None = None) -> Transport:
    """The outbox when no SMTP host is configured, else SMTP."""
    if settings.uses_outbox:
        return OutboxTransport(settings.outbox_dir)
    return SMTPTransport(settings, connection_gate)
