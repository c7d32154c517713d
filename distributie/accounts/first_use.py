"""The first-use link: while no account exists, a one-time token lets one person create the
first beheerder account. Only the token's SHA-256 is stored, with a lifetime (15 minutes)."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum
from typing import cast

from distributie.accounts.errors import FirstUseRefused
from distributie.accounts.keys import ACCOUNTS, FIRST_USE
from distributie.accounts.store import Account, Accounts

LIFETIME = 15 * 60  # seconds

# KEYS: accounts set, first-use key. ARGV: token hash, lifetime in ms. A new token replaces
# any earlier one, so only the link printed last works.
_ISSUE = """
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 1
"""


class TokenState(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # wrong, used or expired
    CLOSED = "closed"  # an account exists


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(accounts: Accounts, lifetime: float = LIFETIME) -> str:
    """A new first-use token, or FirstUseRefused when an account exists already."""
    token = secrets.token_urlsafe(32)
    issued = accounts.client.eval(
        _ISSUE, 2, ACCOUNTS, FIRST_USE, _hash(token), max(1, int(lifetime * 1000))
    )
    if not issued:
        raise FirstUseRefused(accounts_exist=True)
    return token


def token_state(accounts: Accounts, token: str) -> TokenState:
    with accounts.client.pipeline(transaction=True) as pipe:
        pipe.scard(ACCOUNTS)
        pipe.get(FIRST_USE)
        count, stored = cast(list[object], pipe.execute())
    if cast(int, count) > 0:
        return TokenState.CLOSED
    if stored is None or not secrets.compare_digest(cast(bytes, stored), _hash(token).encode()):
        return TokenState.INVALID
    return TokenState.VALID


def create_first_account(
    accounts: Accounts, token: str, name: str, password: str, email: str | None = None
) -> Account:
    """Create the first beheerder and consume the token in one step; it never works again."""
    return accounts.create_first(_hash(token), name, password, email)
