"""The accounts of the web page, kept in the ledger's Redis, for any front end that manages them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from distributie.accounts import Accounts
from distributie.operations.session import Session, open_session
from distributie.settings import Settings


def accounts_of(session: Session) -> Accounts:
    return Accounts(session.ledger.client)


@contextmanager
def open_accounts(settings: Settings) -> Iterator[Accounts]:
    """The accounts in the configured (or embedded) Redis, for as long as the block runs."""
    with open_session(settings) as session:
        yield accounts_of(session)
