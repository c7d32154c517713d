"""The first-use link in a real browser: it creates the first beheerder, once, within its time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver

from distributie.accounts import Accounts, Role, issue_token
from tests.support.browser import Browser
from tests.support.web import PASSWORD, WebProcess, start_web, web_env


@pytest.fixture
def fresh_web(redis_url: str, tmp_path: Path) -> Iterator[WebProcess]:
    """`distributie web` started on an empty Redis, so it prints a first-use link."""
    web = start_web(web_env(redis_url), tmp_path)
    yield web
    web.stop()


def create_first_account(browser: Browser, link: str, name: str) -> None:
    browser.open(link)
    browser.fill("username", name)
    browser.fill("email", f"{name}@veiligheidscollege.example")
    browser.fill("password", PASSWORD)
    browser.fill("password_repeat", PASSWORD)
    browser.click("button[data-action=create-first-account]")


def test_the_printed_link_creates_the_first_beheerder_and_logs_in(
    browser_driver: webdriver.Chrome, fresh_web: WebProcess, accounts: Accounts
) -> None:
    browser_driver.delete_all_cookies()
    browser = Browser(browser_driver, fresh_web.url)
    link = fresh_web.first_use_link()
    assert link is not None

    create_first_account(browser, link, "secretariaat")

    assert browser.h1 == "Verzendingen"
    assert "Uw account is aangemaakt en u bent ingelogd." in browser.text
    assert "Ingelogd als secretariaat (beheerder)" in browser.find(".who").text
    account = accounts.get("secretariaat")
    assert account is not None and account.role is Role.BEHEERDER


def test_the_link_is_dead_once_used(
    browser_driver: webdriver.Chrome, fresh_web: WebProcess, accounts: Accounts
) -> None:
    browser_driver.delete_all_cookies()
    browser = Browser(browser_driver, fresh_web.url)
    link = fresh_web.first_use_link()
    assert link is not None
    create_first_account(browser, link, "secretariaat")
    browser_driver.delete_all_cookies()

    browser.open(link)

    assert browser.h1 == "Deze link werkt niet"
    assert "Er is al een account aangemaakt." in browser.text
    assert [a.name for a in accounts.list()] == ["secretariaat"]


def test_an_expired_link_is_refused(browser: Browser, accounts: Accounts) -> None:
    token = issue_token(accounts, lifetime=1)
    time.sleep(1.5)

    browser.open(f"/eerste-account/{token}")

    assert browser.h1 == "Deze link werkt niet"
    assert "15 minuten" in browser.text
    assert accounts.count() == 0


def test_a_mistake_in_the_form_is_shown_beside_its_field_and_the_link_still_works(
    browser: Browser, accounts: Accounts
) -> None:
    token = issue_token(accounts)
    browser.open(f"/eerste-account/{token}")
    browser.fill("username", "secretariaat")
    browser.fill("password", "kort")
    browser.fill("password_repeat", "kort")

    browser.click("button[data-action=create-first-account]")

    assert browser.driver.title.startswith("Fout: ")
    assert "minstens 12" in browser.find("#password-fout").text
    assert browser.find("#password").get_attribute("aria-invalid") == "true"
    assert browser.find("#username").get_attribute("value") == "secretariaat"
    assert accounts.count() == 0
    browser.fill("password", PASSWORD)
    browser.fill("password_repeat", PASSWORD)
    browser.click("button[data-action=create-first-account]")
    assert browser.h1 == "Verzendingen"
