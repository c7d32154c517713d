"""Passwords: the rules a new password must meet, and argon2id hashes (argon2-cffi)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from distributie.accounts.errors import WeakPassword

# A passphrase of a few words passes; ASVS asks for at least 12 characters. The upper bound
# only stops a megabyte "password" from being hashed.
MIN_LENGTH = 12
MAX_LENGTH = 1024

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile (64 MiB, t=3, p=4).
_hasher = PasswordHasher()


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(
            "short", f"it needs at least {MIN_LENGTH} characters", MIN_LENGTH, MAX_LENGTH
        )
    if len(password) > MAX_LENGTH:
        raise WeakPassword(
            "long", f"it may have at most {MAX_LENGTH} characters", MIN_LENGTH, MAX_LENGTH
        )
    if not password.strip():
        raise WeakPassword("blank", "it is only spaces", MIN_LENGTH, MAX_LENGTH)


def hash_password(password: str) -> str:
    check_policy(password)
    return _hasher.hash(password)


def hash_again(password: str) -> str:
    """A fresh hash of a password that already passed the rules when it was set."""
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("no account has this password, it only takes time")


def spend_verify_time(password: str) -> None:
    """Take as long as a real check, so a wrong name cannot be told from a wrong password."""
    verify(_dummy_hash(), password[:MAX_LENGTH])
