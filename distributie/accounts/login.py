"""Checking a login: the same answer for a wrong name and a wrong password, and throttled."""

from __future__ import annotations

from distributie.accounts import passwords
from distributie.accounts.errors import AccountError, LoginFailed
from distributie.accounts.store import Account, Accounts, valid_name
from distributie.accounts.throttle import LoginThrottle


def verify_login(
    accounts: Accounts, throttle: LoginThrottle, name: str, password: str, address: str
) -> Account:
    """The account, or LoginFailed (wrong name or password) or LoginThrottled."""
    try:
        account = accounts.get(valid_name(name))
    except AccountError:
        account = None
    reservation = throttle.reserve(account.name if account else None, address)
    stored = accounts.password_hash(account.name) if account else None
    if account is None or stored is None:
        passwords.spend_verify_time(password)
        raise LoginFailed()
    if not passwords.verify(stored, password):
        raise LoginFailed()
    throttle.succeeded(reservation)
    if passwords.needs_rehash(stored):
        accounts.rehash(account.name, password)
    return account
