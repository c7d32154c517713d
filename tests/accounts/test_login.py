"""Checking logins: one answer for a wrong name or password, and the slow-down after five
failures for an account or from an address."""

from __future__ import annotations

import threading
import time

import pytest

from distributie.accounts import (
    Accounts,
    LoginFailed,
    LoginThrottle,
    LoginThrottled,
    Role,
    verify_login,
)
from distributie.accounts.keys import failures_from_address, failures_of_account
from tests.support.web import PASSWORD

WRONG = "not the password at all"


@pytest.fixture
def throttle(accounts: Accounts) -> LoginThrottle:
    return LoginThrottle(accounts.client)


def fail(accounts: Accounts, throttle: LoginThrottle, name: str, address: str) -> None:
    with pytest.raises(LoginFailed):
        verify_login(accounts, throttle, name, WRONG, address)


def test_the_right_password_logs_in(accounts: Accounts, throttle: LoginThrottle) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)

    assert verify_login(accounts, throttle, " Anna ", PASSWORD, "10.0.0.1").name == "anna"


def test_a_wrong_name_and_a_wrong_password_are_the_same_error(
    accounts: Accounts, throttle: LoginThrottle
) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)

    with pytest.raises(LoginFailed) as wrong_name:
        verify_login(accounts, throttle, "onbekend", PASSWORD, "10.0.0.1")
    with pytest.raises(LoginFailed) as wrong_password:
        verify_login(accounts, throttle, "anna", WRONG, "10.0.0.2")

    assert str(wrong_name.value) == str(wrong_password.value)


def test_five_failures_for_an_account_refuse_even_the_right_password(
    accounts: Accounts, throttle: LoginThrottle
) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)
    for n in range(5):
        fail(accounts, throttle, "anna", f"10.0.0.{n}")

    with pytest.raises(LoginThrottled) as refused:
        verify_login(accounts, throttle, "anna", PASSWORD, "10.0.1.1")

    assert 590 <= refused.value.retry_after <= 600


def test_five_failures_from_an_address_refuse_every_account_from_it(
    accounts: Accounts, throttle: LoginThrottle
) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)
    for n in range(5):
        fail(accounts, throttle, f"gok{n}", "10.0.0.9")

    with pytest.raises(LoginThrottled):
        verify_login(accounts, throttle, "anna", PASSWORD, "10.0.0.9")
    assert verify_login(accounts, throttle, "anna", PASSWORD, "10.0.0.10").name == "anna"


def test_four_failures_do_not_slow_down(accounts: Accounts, throttle: LoginThrottle) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)
    for _ in range(4):
        fail(accounts, throttle, "anna", "10.0.0.1")

    assert verify_login(accounts, throttle, "anna", PASSWORD, "10.0.0.1").name == "anna"


def test_the_slow_down_ends_when_its_window_has_passed(accounts: Accounts) -> None:
    throttle = LoginThrottle(accounts.client, window=1)
    accounts.add("anna", Role.LEZER, PASSWORD)
    for _ in range(5):
        fail(accounts, throttle, "anna", "10.0.0.1")

    time.sleep(2.1)

    assert verify_login(accounts, throttle, "anna", PASSWORD, "10.0.0.1").name == "anna"


def test_refused_attempts_do_not_extend_the_slow_down(
    accounts: Accounts, throttle: LoginThrottle
) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)
    for _ in range(5):
        fail(accounts, throttle, "anna", "10.0.0.1")
    ttl_before = accounts.client.ttl(failures_of_account("anna"))

    for _ in range(3):
        with pytest.raises(LoginThrottled):
            verify_login(accounts, throttle, "anna", WRONG, "10.0.0.1")

    assert accounts.client.get(failures_of_account("anna")) == b"5"
    assert accounts.client.ttl(failures_of_account("anna")) <= ttl_before


def test_a_login_clears_the_accounts_failures_but_not_the_addresss(
    accounts: Accounts, throttle: LoginThrottle
) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)
    for _ in range(3):
        fail(accounts, throttle, "anna", "10.0.0.1")

    verify_login(accounts, throttle, "anna", PASSWORD, "10.0.0.1")

    assert not accounts.client.exists(failures_of_account("anna"))
    assert accounts.client.get(failures_from_address("10.0.0.1")) == b"3"


def test_parallel_guesses_cannot_pass_the_limit(
    accounts: Accounts, throttle: LoginThrottle
) -> None:
    accounts.add("anna", Role.LEZER, PASSWORD)
    outcomes: list[str] = []

    def guess(n: int) -> None:
        try:
            verify_login(accounts, throttle, "anna", WRONG, f"10.0.2.{n}")
        except (LoginFailed, LoginThrottled) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("LoginFailed") == 5
    assert outcomes.count("LoginThrottled") == 7


def test_no_failure_count_is_kept_under_an_unknown_name(
    accounts: Accounts, throttle: LoginThrottle
) -> None:
    # A name field sometimes receives a password typed in the wrong box.
    fail(accounts, throttle, "Geheim-wachtwoord-1", "10.0.0.1")

    keys = {k.decode() for k in accounts.client.keys("*")}

    assert keys == {failures_from_address("10.0.0.1")}
