"""Redis key names of accounts, first use and login throttling (the README's key schema)."""

from __future__ import annotations

PREFIX = "distributie"

ACCOUNTS = f"{PREFIX}:accounts"  # set of account names
FIRST_USE = f"{PREFIX}:first-use"  # SHA-256 of the one-time first-use token, with a TTL


def account_key(name: str) -> str:
    """Hash: name, role, email, password_hash, created_at, changed_at."""
    return f"{PREFIX}:account:{name}"


def failures_of_account(name: str) -> str:
    """Counter of failed logins for an existing account, expiring with its window."""
    return f"{PREFIX}:login:failures:account:{name}"


def failures_from_address(address: str) -> str:
    """Counter of failed logins from one client address, expiring with its window."""
    return f"{PREFIX}:login:failures:address:{address}"
