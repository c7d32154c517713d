"""Accounts in Redis: add, list, change password, remove; argon2id hashes and nothing else."""

from __future__ import annotations

import pytest

from distributie.accounts import (
    AccountExists,
    Accounts,
    InvalidAccountName,
    InvalidEmail,
    LoginFailed,
    Role,
    UnknownAccount,
    WeakPassword,
    verify_login,
)
from distributie.accounts.keys import ACCOUNTS, account_key
from distributie.accounts.throttle import LoginThrottle
from tests.support.web import PASSWORD


def every_value(accounts: Accounts) -> bytes:
    """Everything in Redis, keys and values, as one blob to search."""
    client = accounts.client
    parts = []
    for key in client.keys("*"):
        parts.append(key)
        if client.type(key) == b"hash":
            for field, value in client.hgetall(key).items():
                parts += [field, value]
        elif client.type(key) == b"string":
            parts.append(client.get(key) or b"")
        elif client.type(key) == b"set":
            parts += list(client.smembers(key))
    return b"\n".join(parts)


def test_an_added_account_is_listed_with_its_role_and_email(accounts: Accounts) -> None:
    accounts.add("Anna", Role.MEDEWERKER, PASSWORD, "anna@veiligheidsregio.example")

    (account,) = accounts.list()

    assert (account.name, account.role, account.email) == (
        "anna",
        Role.MEDEWERKER,
        "anna@veiligheidsregio.example",
    )
    assert account.created_at == account.changed_at > 0


def test_the_password_is_kept_only_as_an_argon2id_hash(accounts: Accounts) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)

    stored = accounts.client.hget(account_key("anna"), "password_hash")

    assert stored is not None and stored.startswith(b"$argon2id$")
    assert PASSWORD.encode() not in every_value(accounts)


def test_a_second_account_with_the_same_name_is_refused(accounts: Accounts) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)

    with pytest.raises(AccountExists):
        accounts.add("ANNA", Role.BEHEERDER, PASSWORD)

    kept = accounts.get("anna")
    assert kept is not None and kept.role is Role.LEZER


@pytest.mark.parametrize("name", ["", " ", "-anna", "anna jansen", "anna/../x", "a" * 65, "ánna"])
def test_a_name_that_cannot_be_typed_safely_is_refused(accounts: Accounts, name: str) -> None:
    with pytest.raises(InvalidAccountName):
        accounts.add(name, Role.LEZER, PASSWORD)

    assert accounts.count() == 0


@pytest.mark.parametrize("password", ["kort", "elf tekens!", " " * 20])
def test_a_weak_password_is_refused_and_nothing_is_stored(
    accounts: Accounts, password: str
) -> None:
    with pytest.raises(WeakPassword):
        accounts.add("anna", Role.LEZER, password)

    assert accounts.client.keys("*") == []


def test_an_invalid_email_address_is_refused(accounts: Accounts) -> None:
    with pytest.raises(InvalidEmail):
        accounts.add("anna", Role.LEZER, PASSWORD, "anna(at)example")

    assert accounts.count() == 0


def test_a_changed_password_replaces_the_old_one(accounts: Accounts) -> None:
    before = accounts.add("anna", Role.LEZER, PASSWORD)
    throttle = LoginThrottle(accounts.client)

    after = accounts.change_password("anna", "een heel ander wachtwoord")

    assert after.changed_at > before.changed_at
    assert verify_login(accounts, throttle, "anna", "een heel ander wachtwoord", "10.0.0.1")
    with pytest.raises(LoginFailed):
        verify_login(accounts, throttle, "anna", PASSWORD, "10.0.0.1")


def test_changing_the_password_of_an_unknown_account_is_refused(accounts: Accounts) -> None:
    with pytest.raises(UnknownAccount):
        accounts.change_password("niemand", PASSWORD)

    assert accounts.client.keys("*") == []


def test_a_removed_account_is_gone_with_its_name(accounts: Accounts) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)
    accounts.add("bram", Role.LEZER, PASSWORD)

    accounts.remove("Anna")

    assert [a.name for a in accounts.list()] == ["bram"]
    assert accounts.client.smembers(ACCOUNTS) == {b"bram"}
    assert not accounts.client.exists(account_key("anna"))


def test_removing_an_unknown_account_is_refused(accounts: Accounts) -> None:
    with pytest.raises(UnknownAccount):
        accounts.remove("niemand")
