"""One pass over the bounce mailbox with the configured sign-in (password or XOAUTH2), and the
workers' duty that makes that pass every DISTRIBUTIE_BOUNCE_POLL_SECONDS."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from distributie.bounces.mailbox import BounceMailbox
from distributie.bounces.matching import Matcher
from distributie.bounces.processing import (
    Handled,
    MailboxRead,
    MailboxReader,
    PollerBusy,
    one_poller,
)
from distributie.errors import ConfigError, DistributieError
from distributie.ledger import Ledger
from distributie.settings import Settings

if TYPE_CHECKING:
    from distributie.oauth import TokenSource

log = logging.getLogger(__name__)


def token_source(settings: Settings) -> TokenSource | None:
    """The OAuth2 tokens for DISTRIBUTIE_BOUNCE_IMAP_AUTH=xoauth2; None for a password."""
    if settings.bounce_imap_auth != "xoauth2":
        return None
    from distributie.oauth import TokenSource  # httpx and authlib: only when signing in so

    return TokenSource.from_settings(settings)


def open_mailbox(settings: Settings, tokens: TokenSource | None) -> BounceMailbox:
    """The configured mailbox (not yet connected); ConfigError when there is none."""
    if settings.bounce_imap_host is None:
        raise ConfigError(
            "DISTRIBUTIE_BOUNCE_IMAP_HOST is not set: there is no bounce mailbox to read"
        )
    access_token = (lambda: tokens.token().value) if tokens is not None else None
    return BounceMailbox(settings, access_token=access_token)


def read_once(
    settings: Settings,
    ledger: Ledger,
    worker: str,
    tokens: TokenSource | None,
    wait: float = 0.0,
    recorded: Callable[[Handled], None] = lambda handled: None,
) -> MailboxRead:
    """Read the mailbox once, as the one poller (waiting at most `wait` s for another)."""
    reader = MailboxReader(ledger, Matcher(ledger, settings.bounce_match_days), worker)
    with one_poller(ledger.client, wait) as keep, open_mailbox(settings, tokens) as mailbox:
        return reader.read(mailbox, keep, recorded)


class BouncePoller:
    """The duty `bounces` of the workers (delivery/tasks.py): one pass per period, on one host
    at a time; a mailbox out of reach is a warning in the log, and tried again next period."""

    def __init__(self, settings: Settings, ledger: Ledger, worker: str) -> None:
        self._settings = settings
        self._ledger = ledger
        self._worker = worker
        self._tokens: TokenSource | None = None  # made on first use: a wrong setting is logged

    def __call__(self) -> MailboxRead | None:
        try:
            if self._tokens is None:
                self._tokens = token_source(self._settings)
            result = read_once(self._settings, self._ledger, self._worker, self._tokens)
        except PollerBusy:
            log.debug("bounce mailbox: another poller is reading it")
            return None
        except DistributieError as exc:
            if self._tokens is not None:
                self._tokens.forget()  # a token the server refused is not offered again
            log.warning("bounce mailbox not read: %s", exc)
            return None
        for handled in result.handled:
            log.info(
                "report",
                extra={
                    "kind": handled.kind,
                    "outcome": handled.outcome,
                    "run": handled.match.run if handled.match else "",
                    "gemeente": handled.match.key if handled.match else "",
                    "method": handled.match.method if handled.match else "",
                    "folder": handled.destination,
                    "reply": handled.reply,
                },
            )
        if result.handled:
            log.info(
                "bounce mailbox read",
                extra={
                    "recorded": len(result.recorded),
                    "set_aside": len(result.set_aside),
                    **dict(result.recorded_by_outcome()),
                },
            )
        return result
