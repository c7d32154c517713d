"""Reading the bounce mailbox from a front end: one pass now (`distributie bounces --once`), or
one pass per DISTRIBUTIE_BOUNCE_POLL_SECONDS."""

from __future__ import annotations

from distributie.bounces.poller import read_once, token_source
from distributie.bounces.processing import MailboxRead
from distributie.errors import ConfigError
from distributie.operations.session import Session
from distributie.runtime.processes import holder_name

__all__ = ["MailboxRead", "read_bounces"]

# How long a command waits for a worker's poller to finish its pass before giving up.
WAIT_FOR_POLLER = 60.0


def read_bounces(session: Session, wait: float = WAIT_FOR_POLLER) -> MailboxRead:
    """Read the mailbox once: every report recorded and moved to distributie/verwerkt, or set
    aside in distributie/onbekend. MailboxError (exit 2) when it cannot be reached or refuses
    the login; PollerBusy (exit 1) when another poller holds it for longer than `wait`."""
    settings = session.settings
    if not settings.uses_bounce_mailbox:
        raise ConfigError(
            "DISTRIBUTIE_BOUNCE_IMAP_HOST is not set: there is no bounce mailbox to read"
        )
    tokens = token_source(settings)
    return read_once(settings, session.ledger, holder_name(), tokens, wait=wait)
