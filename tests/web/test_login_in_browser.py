"""Logging in and out in a real browser, with axe-core on every page it shows."""

from __future__ import annotations

from distributie.accounts import Accounts, Role
from tests.support.browser import Browser
from tests.support.web import PASSWORD, add_account


def log_in(browser: Browser, name: str, password: str = PASSWORD) -> None:
    browser.open("/inloggen")
    browser.fill("username", name)
    browser.fill("password", password)
    browser.click("button[data-action=login]")


def test_logging_in_shows_the_verzendingen_page_with_who_is_logged_in(
    browser: Browser, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.MEDEWERKER)

    log_in(browser, "anna")

    assert browser.h1 == "Verzendingen"
    assert "Ingelogd als anna" in browser.find(".who").text
    assert browser.find("form[data-action=logout] button").text == "Uitloggen"


def test_logging_out_ends_the_session_on_the_server(browser: Browser, accounts: Accounts) -> None:
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")
    sessions_logged_in = accounts.client.keys("distributie:web:session:*")

    browser.click("form[data-action=logout] button")

    assert browser.h1 == "Inloggen"
    assert "U bent uitgelogd." in browser.text
    remaining = accounts.client.keys("distributie:web:session:*")
    assert not set(sessions_logged_in) & set(remaining)
    browser.open("/")
    assert browser.path == "/inloggen"


def test_a_wrong_name_and_a_wrong_password_show_the_same_message(
    browser: Browser, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.MEDEWERKER)

    log_in(browser, "onbekend", PASSWORD)
    wrong_name = browser.find(".error-summary").text
    log_in(browser, "anna", "not the password at all")
    wrong_password = browser.find(".error-summary").text

    assert wrong_name == wrong_password
    assert "De gebruikersnaam of het wachtwoord klopt niet." in wrong_name


def test_after_five_failures_even_the_right_password_is_refused_for_ten_minutes(
    browser: Browser, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.MEDEWERKER)
    for _ in range(5):
        log_in(browser, "anna", "not the password at all")

    log_in(browser, "anna", PASSWORD)

    assert browser.h1 == "Inloggen"
    assert "pas over 10 minuten opnieuw inloggen" in browser.find(".error-summary").text
