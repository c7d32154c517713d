"""How the configured delivery is described to an operator and recorded with a run."""

from __future__ import annotations

from pathlib import Path

from distributie.settings import Settings


def outbox_notice(settings: Settings) -> str | None:
    """The warning that nothing is e-mailed, when no SMTP server is configured."""
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


def mailbox_notice(settings: Settings) -> str | None:
    """What `status` says once when there is no bounce mailbox."""
    if settings.uses_bounce_mailbox:
        return None
    return (
        "Bounces and automatic replies are not read: DISTRIBUTIE_BOUNCE_IMAP_HOST is not set, "
        "so 'sent' means that the relay accepted the message."
    )
