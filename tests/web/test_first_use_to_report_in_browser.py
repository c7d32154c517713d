"""Issue 10's "done when", as one test: on a fresh folder, `distributie web` with the embedded
default plus its first-use link lets a new person create an account, upload the bundled list,
preview Soest, start the run and watch it reach 39 verzonden, resend one gemeente to a new
address, and download the report, all in a real browser (axe-core on every page)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from selenium import webdriver

from tests.support.browser import Browser
from tests.support.web import PASSWORD, WebProcess, start_web, web_env
from tests.web.test_run_pages import BUNDLED_LIST
from tests.web.test_runs_in_browser import not_reloaded, start_checked_list, upload

NEW_ADDRESS = "griffie@soest.example"


@pytest.fixture
def fresh_web(tmp_path: Path) -> Iterator[WebProcess]:
    """`python3 dev.py web` on a fresh clone: no settings, so the embedded Redis and worker."""
    web = start_web(web_env(None), tmp_path)
    yield web
    web.stop()


def test_from_the_first_use_link_to_the_report_of_a_run_of_39(
    browser_driver: webdriver.Chrome, fresh_web: WebProcess, tmp_path: Path
) -> None:
    browser_driver.delete_all_cookies()
    browser = Browser(browser_driver, fresh_web.url)
    link = fresh_web.first_use_link()
    assert link is not None

    # A new person creates the first account with the printed link.
    browser.open(link)
    browser.fill("username", "secretariaat")
    browser.fill("password", PASSWORD)
    browser.fill("password_repeat", PASSWORD)
    browser.click("button[data-action=create-first-account]")
    assert browser.h1 == "Verzendingen"

    # Upload the bundled list and look at the message to Soest.
    browser.click("a[data-action=new-run]")
    upload(browser, BUNDLED_LIST)
    assert browser.h1 == "Klaar om te verzenden"
    browser.find("#gemeente option[value=soest]").click()
    browser.click("form.pick button")
    assert browser.h1 == "Voorbeeld: e-mail aan Soest"
    assert "voor gemeente Soest" in browser.find("[data-subject]").text

    # Start it and watch the page reach 39 verzonden by itself.
    start_checked_list(browser)
    page = browser.find("html")
    browser.wait_for("tr[data-state=sent]", 39, timeout=120)
    assert not_reloaded(page)
    run_id = browser.path.rsplit("/", 1)[1]

    # Resend Soest to a corrected address, confirmed, and see it sent there.
    browser.click("tr[data-gemeente=soest] th a")
    browser.fill("to", NEW_ADDRESS)
    browser.click("form[data-action=resend] button")
    browser.click("form[data-action=resend] button")
    browser.click("a[href='/verzendingen/" + run_id + "']")
    browser.wait_for("tr[data-gemeente=soest][data-state=sent]", 1, timeout=60)
    browser.wait_for("#live[hx-get]", 0)  # the page stopped updating itself
    assert NEW_ADDRESS in browser.find("tr[data-gemeente=soest]").text

    # Download the report, as Excel and as CSV.
    downloads = tmp_path / "downloads"
    workbook = browser.download("a[data-action=export-xlsx]", downloads)
    report = browser.download("a[data-action=export-csv]", downloads)

    sheet = openpyxl.load_workbook(io.BytesIO(workbook.read_bytes())).worksheets[0]
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert sheet.max_row == len(rows) + 1 == 40
    assert {row["state"] for row in rows} == {"sent"}
    [soest] = [row for row in rows if row["gemeente"] == "Soest"]
    assert soest["email"] == NEW_ADDRESS and soest["attempts"] == "2"
    sent = fresh_web.cwd / "outbox" / run_id / "soest.eml"
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == NEW_ADDRESS
