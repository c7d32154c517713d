"""The pages as a secretary uses them in a real browser: the Gebruikers page, role limits,
keyboard use, and a policy that refuses inline script. axe-core checks every page."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from distributie.accounts import Accounts, Role
from tests.support.browser import Browser, wait_until_left
from tests.support.web import PASSWORD, add_account
from tests.web.test_login_in_browser import log_in


def test_a_beheerder_adds_an_account_on_the_gebruikers_page(
    browser: Browser, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.BEHEERDER)
    log_in(browser, "anna")
    browser.click("nav a[href='/gebruikers']")

    browser.fill("username", "bram")
    browser.find("#role option[value=lezer]").click()
    browser.fill("password", PASSWORD)
    browser.fill("password_repeat", PASSWORD)
    browser.click("form[data-action=add-account] button")

    assert "Gebruiker bram is toegevoegd." in browser.text
    assert browser.find("tr[data-account=bram]").text.startswith("bram lezer")
    account = accounts.get("bram")
    assert account is not None and account.role is Role.LEZER


def test_a_beheerder_removes_an_account_after_confirming(
    browser: Browser, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.BEHEERDER)
    add_account(accounts, "bram", Role.LEZER)
    log_in(browser, "anna")
    browser.open("/gebruikers")

    browser.click("tr[data-account=bram] a[data-action=remove-account]")
    assert browser.h1 == "Gebruiker bram verwijderen"
    assert accounts.get("bram") is not None
    browser.click("form[data-action=remove-account] button")

    assert "Gebruiker bram is verwijderd." in browser.text
    assert accounts.get("bram") is None


def test_a_medewerker_sees_no_gebruikers_menu_and_is_refused_the_page(
    browser: Browser, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")
    assert browser.find_all("nav a[href='/gebruikers']") == []

    browser.open("/gebruikers")

    assert browser.h1 == "Geen toegang"
    assert "Met de rol medewerker mag u dit niet doen" in browser.text


def test_the_skip_link_is_the_first_thing_the_keyboard_reaches(
    browser: Browser, accounts: Accounts
) -> None:
    browser.open("/inloggen")

    browser.find("body").send_keys(Keys.TAB)
    focused = browser.driver.switch_to.active_element

    assert focused.text == "Direct naar de inhoud"
    focused.send_keys(Keys.ENTER)
    assert browser.driver.current_url.endswith("#inhoud")


def tab_to(browser: Browser, css: str) -> WebElement:
    """Press Tab until the element `css` has the focus (at most 15 times)."""
    target = browser.find(css)
    browser.find("body").send_keys(Keys.TAB)
    for _ in range(15):
        if browser.driver.switch_to.active_element == target:
            return target
        browser.driver.switch_to.active_element.send_keys(Keys.TAB)
    raise AssertionError(f"the keyboard never reaches {css}")


def press_enter_for_a_new_page(browser: Browser, element: WebElement) -> None:
    page = browser.find("html")
    element.send_keys(Keys.ENTER)
    wait_until_left(browser.driver, page)
    browser.check_page()


def test_logging_in_and_out_works_by_keyboard_alone(browser: Browser, accounts: Accounts) -> None:
    add_account(accounts, "anna", Role.LEZER)
    browser.open("/inloggen")

    tab_to(browser, "#username").send_keys("anna")
    browser.driver.switch_to.active_element.send_keys(Keys.TAB)
    browser.driver.switch_to.active_element.send_keys(PASSWORD)
    press_enter_for_a_new_page(browser, browser.driver.switch_to.active_element)
    assert browser.h1 == "Verzendingen"

    press_enter_for_a_new_page(browser, tab_to(browser, "form[data-action=logout] button"))
    assert browser.h1 == "Inloggen"


def test_the_page_refuses_inline_script(browser: Browser, accounts: Accounts) -> None:
    browser.open("/inloggen")

    browser.driver.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'window.injected = true';"
        "document.head.appendChild(s);"
    )

    assert browser.driver.execute_script("return window.injected === true") is False
    log = browser.driver.get_log("browser")  # type: ignore[no-untyped-call]
    assert any("Content Security Policy" in entry["message"] for entry in log)


def test_htmx_is_served_and_loaded_under_the_policy(browser: Browser, accounts: Accounts) -> None:
    browser.open("/inloggen")

    version = browser.driver.execute_script("return window.htmx && window.htmx.version")

    assert str(version).startswith("2.")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "style") == []
