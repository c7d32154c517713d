"""The first-use token: creates the first beheerder once, expires, and closes once any
account exists. Only its hash is stored."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from distributie.accounts import (
    Accounts,
    FirstUseRefused,
    Role,
    TokenState,
    WeakPassword,
    create_first_account,
    issue_token,
    token_state,
)
from distributie.accounts.keys import FIRST_USE
from tests.support.web import PASSWORD


def test_the_token_creates_the_first_account_as_beheerder(accounts: Accounts) -> None:
    token = issue_token(accounts)

    account = create_first_account(accounts, token, "anna", PASSWORD)

    assert account.role is Role.BEHEERDER
    assert [a.name for a in accounts.list()] == ["anna"]


def test_the_token_works_only_once(accounts: Accounts) -> None:
    token = issue_token(accounts)
    create_first_account(accounts, token, "anna", PASSWORD)

    with pytest.raises(FirstUseRefused):
        create_first_account(accounts, token, "bram", PASSWORD)

    assert [a.name for a in accounts.list()] == ["anna"]
    assert token_state(accounts, token) is TokenState.CLOSED


def test_the_token_expires_after_its_lifetime(accounts: Accounts) -> None:
    token = issue_token(accounts, lifetime=0.5)
    assert token_state(accounts, token) is TokenState.VALID

    time.sleep(0.8)

    assert token_state(accounts, token) is TokenState.INVALID
    with pytest.raises(FirstUseRefused):
        create_first_account(accounts, token, "anna", PASSWORD)
    assert accounts.count() == 0


def test_the_default_lifetime_is_fifteen_minutes(accounts: Accounts) -> None:
    issue_token(accounts)

    assert 899_000 <= accounts.client.pttl(FIRST_USE) <= 900_000


def test_a_wrong_token_creates_nothing(accounts: Accounts) -> None:
    issue_token(accounts)

    with pytest.raises(FirstUseRefused):
        create_first_account(accounts, "geraden", "anna", PASSWORD)

    assert accounts.count() == 0


def test_a_new_token_replaces_the_earlier_one(accounts: Accounts) -> None:
    first = issue_token(accounts)
    second = issue_token(accounts)

    assert token_state(accounts, first) is TokenState.INVALID
    assert token_state(accounts, second) is TokenState.VALID


def test_no_token_is_issued_once_an_account_exists(accounts: Accounts) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)

    with pytest.raises(FirstUseRefused):
        issue_token(accounts)


def test_an_account_added_otherwise_closes_the_link(accounts: Accounts) -> None:
    token = issue_token(accounts)
    accounts.add("anna", Role.LEZER, PASSWORD)

    with pytest.raises(FirstUseRefused):
        create_first_account(accounts, token, "bram", PASSWORD)

    assert token_state(accounts, token) is TokenState.CLOSED
    assert not accounts.client.exists(FIRST_USE)


def test_only_a_hash_of_the_token_is_stored(accounts: Accounts) -> None:
    token = issue_token(accounts)

    stored = accounts.client.get(FIRST_USE)

    assert stored == hashlib.sha256(token.encode()).hexdigest().encode()
    assert token.encode() not in b"".join(
        accounts.client.dump(key) or b"" for key in accounts.client.keys("*")
    )


def test_a_refused_password_leaves_the_token_usable(accounts: Accounts) -> None:
    token = issue_token(accounts)

    with pytest.raises(WeakPassword):
        create_first_account(accounts, token, "anna", "kort")

    assert create_first_account(accounts, token, "anna", PASSWORD).name == "anna"


def test_two_people_using_the_link_at_once_create_one_account(accounts: Accounts) -> None:
    token = issue_token(accounts)
    results: list[str] = []

    def use(name: str) -> None:
        try:
            results.append(create_first_account(accounts, token, name, PASSWORD).name)
        except FirstUseRefused:
            results.append("refused")

    threads = [threading.Thread(target=use, args=(f"persoon{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results).count("refused") == 5
    assert accounts.count() == 1
