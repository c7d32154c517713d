"""Accounts in the ledger's Redis: add, list, change password, remove, and the first account.

Each account is one hash plus its name in a set; adding and the first-use creation are Lua
scripts, so "does it exist?" and "create it" are one step even with several web processes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import redis
from email_validator import EmailNotValidError, validate_email

from distributie.accounts import passwords
from distributie.accounts.errors import (
    AccountExists,
    FirstUseRefused,
    InvalidAccountName,
    InvalidEmail,
    UnknownAccount,
)
from distributie.accounts.keys import ACCOUNTS, FIRST_USE, account_key
from distributie.accounts.roles import Role

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")

# KEYS: accounts set, account hash, first-use key. ARGV: name, role, email, hash, token hash.
# With a token hash the account is only created as the first one, consuming the token.
_CREATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if ARGV[5] ~= '' then
  if redis.call('SCARD', KEYS[1]) > 0 then return 'closed' end
  if redis.call('GET', KEYS[3]) ~= ARGV[5] then return 'invalid' end
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'exists' end
redis.call('HSET', KEYS[2], 'name', ARGV[1], 'role', ARGV[2], 'email', ARGV[3],
  'password_hash', ARGV[4], 'created_at', now, 'changed_at', now)
redis.call('SADD', KEYS[1], ARGV[1])
-- Once any account exists, the first-use link is dead.
redis.call('DEL', KEYS[3])
return 'created'
"""

# KEYS: account hash. ARGV: new hash. Only an existing account's password changes.
_CHANGE_PASSWORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1],
  'changed_at', tonumber(t[1]) + tonumber(t[2]) / 1e6)
return 1
"""


@dataclass(frozen=True)
class Account:
    """An account as shown to people: never with its password hash."""

    name: str
    role: Role
    email: str | None
    created_at: float
    changed_at: float  # last change of password or role; sessions from before it end


def normalise_name(name: str) -> str:
    return name.strip().lower()


def valid_name(name: str) -> str:
    normalised = normalise_name(name)
    if not _NAME_RE.match(normalised):
        raise InvalidAccountName(name)
    return normalised


def valid_email(address: str | None) -> str | None:
    if address is None or not address.strip():
        return None
    try:
        result = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(address, str(exc)) from None
    return str(result.normalized)


def _text(value: bytes | None) -> str:
    return value.decode("utf-8") if value is not None else ""


class Accounts:
    """Every read and write of accounts. Takes the ledger's client (`ledger.connect(url)`)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._create = client.register_script(_CREATE)
        self._change_password = client.register_script(_CHANGE_PASSWORD)

    def add(self, name: str, role: Role, password: str, email: str | None = None) -> Account:
        return self._created(name, role, password, email, token_hash="")

    def create_first(self, token_hash: str, name: str, password: str, email: str | None) -> Account:
        """The first beheerder, through the first-use link; see first_use.py."""
        return self._created(name, Role.BEHEERDER, password, email, token_hash=token_hash)

    def _created(
        self, name: str, role: Role, password: str, email: str | None, token_hash: str
    ) -> Account:
        name = valid_name(name)
        address = valid_email(email)
        password_hash = passwords.hash_password(password)
        verdict = _text(
            self._create(
                keys=[ACCOUNTS, account_key(name), FIRST_USE],
                args=[name, role.value, address or "", password_hash, token_hash],
            )
        )
        if verdict == "exists":
            raise AccountExists(name)
        if verdict in ("closed", "invalid"):
            raise FirstUseRefused(accounts_exist=verdict == "closed")
        account = self.get(name)
        assert account is not None  # just created, and accounts are only removed by name
        return account

    def get(self, name: str) -> Account | None:
        fields = cast(dict[bytes, bytes], self.client.hgetall(account_key(normalise_name(name))))
        return _account(fields) if fields else None

    def password_hash(self, name: str) -> str | None:
        value = cast(bytes | None, self.client.hget(account_key(name), "password_hash"))
        return _text(value) or None

    def list(self) -> list[Account]:
        names = sorted(_text(n) for n in cast(set[bytes], self.client.smembers(ACCOUNTS)))
        with self.client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(account_key(name))
            rows = cast(list[dict[bytes, bytes]], pipe.execute())
        return [_account(fields) for fields in rows if fields]

    def count(self) -> int:
        return int(self.client.scard(ACCOUNTS))

    def change_password(self, name: str, password: str) -> Account:
        name = normalise_name(name)
        password_hash = passwords.hash_password(password)
        if not self._change_password(keys=[account_key(name)], args=[password_hash]):
            raise UnknownAccount(name)
        account = self.get(name)
        if account is None:
            raise UnknownAccount(name)
        return account

    def rehash(self, name: str, password: str) -> None:
        """Store a hash with today's parameters, without ending sessions (login only)."""
        self.client.hset(account_key(name), "password_hash", passwords.hash_again(password))

    def remove(self, name: str) -> None:
        name = normalise_name(name)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(account_key(name))
            pipe.srem(ACCOUNTS, name)
            deleted, _ = pipe.execute()
        if not deleted:
            raise UnknownAccount(name)


def _account(fields: dict[bytes, bytes]) -> Account:
    return Account(
        name=_text(fields[b"name"]),
        role=Role(_text(fields[b"role"])),
        email=_text(fields.get(b"email")) or None,
        created_at=float(fields[b"created_at"]),
        changed_at=float(fields[b"changed_at"]),
    )
