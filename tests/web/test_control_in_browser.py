"""Run control as a secretary uses it, in a real browser on a real `distributie web` with real
workers and a real SMTP server: a proefzending reaches only its address and leaves the real run
alone, a run scheduled a few seconds ahead starts after its time, and a run paused and resumed
in the middle sends everyone exactly once. axe-core checks every page the browser lands on."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from distributie import states
from distributie.accounts import Accounts, Role
from distributie.ledger import Ledger
from distributie.operations import control
from distributie.operations.runs import RunPlan
from tests.support.browser import Browser
from tests.support.smtp import RecordingSMTPServer
from tests.support.web import PASSWORD
from tests.support.workers import WorkerPool, start_run
from tests.web.test_login_in_browser import log_in
from tests.web.test_run_pages import BUNDLED_LIST, MAILING
from tests.web.test_runs_in_browser import SENT, not_reloaded, start_checked_list

ZONE = ZoneInfo("Europe/Amsterdam")  # DISTRIBUTIE_TIMEZONE's default
CHECKED = f"/nieuw/{MAILING}/standaard"
TEST_ADDRESS = "anna@secretariaat.example"


def test_a_test_send_reaches_only_the_test_address_and_the_real_run_is_unaffected(
    browser: Browser,
    accounts: Accounts,
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
    ledger: Ledger,
) -> None:
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))
    accounts.add("anna", Role.MEDEWERKER, PASSWORD, TEST_ADDRESS)
    log_in(browser, "anna")
    browser.open(CHECKED)
    assert browser.find("#test_to").get_attribute("value") == TEST_ADDRESS

    browser.find("#proef-gemeente option[value=soest]").click()
    browser.click("form[data-action=test-send] button")

    assert browser.h1.startswith("Proefzending: ")
    browser.wait_for(SENT, 1)
    browser.open(CHECKED)
    start_checked_list(browser)
    browser.wait_for(SENT, 39, timeout=90)
    browser.open("/")
    assert [row.get_attribute("data-kind") for row in browser.find_all("tr[data-run]")] == [
        states.RUN_KIND_MAILING,
        states.RUN_KIND_TEST,
    ]
    assert "Proefzending" in browser.find("tr[data-kind=test]").text
    by_address = smtp_server.deliveries_by_address()
    assert by_address[TEST_ADDRESS] == 1
    assert by_address["burgemeester@soest.example"] == 1
    assert sum(by_address.values()) == 40
    [proef] = [m for m in smtp_server.messages if m.rcpt_tos == (TEST_ADDRESS,)]
    message = message_from_bytes(proef.data, policy=policy.default)
    assert str(message["Subject"]).startswith("[PROEF] ")
    assert message["X-Distributie-Test"] == "yes"
    assert "Soest" in str(message["Subject"])
    test_run, real_run = sorted(ledger.run_ids(), key=lambda r: ledger.run_info(r)["created_at"])
    assert ledger.counts(real_run)[states.SENT] == 39
    assert ledger.run_control(test_run).kind == states.RUN_KIND_TEST


def test_a_run_scheduled_a_few_seconds_ahead_on_the_page_starts_after_its_time(
    browser: Browser,
    accounts: Accounts,
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
    ledger: Ledger,
) -> None:
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))
    accounts.add("anna", Role.MEDEWERKER, PASSWORD)
    log_in(browser, "anna")
    browser.open(CHECKED)
    browser.click("a[data-action=start]")
    due = datetime.now(ZONE).replace(microsecond=0) + timedelta(seconds=8)
    start_at = browser.find("#verzenden_op")
    assert start_at.get_attribute("type") == "datetime-local"
    # What the browser's date picker fills in (with seconds: a few seconds ahead).
    browser.driver.execute_script(
        "arguments[0].value = arguments[1]", start_at, due.strftime("%Y-%m-%dT%H:%M:%S")
    )
    browser.click("form[data-action=start] button")

    assert browser.find("#live").get_attribute("data-run-state") == states.RUN_SCHEDULED
    assert "Gepland voor " in browser.find(".status-line").text
    page = browser.find("html")
    [run_id] = ledger.run_ids()
    assert ledger.counts(run_id)[states.QUEUED] == 39
    browser.wait_for(SENT, 39, timeout=120)

    assert not_reloaded(page)
    assert smtp_server.messages and len(smtp_server.messages) == 39
    run = ledger.run_control(run_id)
    assert run.release_at == due.timestamp()
    assert run.released_at is not None and run.released_at >= due.timestamp()
    first_accepted = min(
        h["at"]
        for r in ledger.status(run_id).recipients
        for h in r.history
        if h["outcome"] == states.OUTCOME_ACCEPTED
    )
    assert first_accepted >= due.timestamp()
    browser.wait_for(".status-line[data-finished=ja]", 1, timeout=20)
    assert "Begonnen" in browser.find(".run-facts").text
    browser.check_page()


def test_pause_and_resume_in_the_middle_of_a_run_on_the_page_send_everyone_once(
    browser: Browser,
    accounts: Accounts,
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
    ledger: Ledger,
) -> None:
    slow = {"DISTRIBUTIE_RATE_LIMIT": "3/s"}  # about 13 s for 39: time to pause
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2), **slow)
    handle = start_run(worker_pool.env | smtp_server.environ(timeout=2) | slow, BUNDLED_LIST)
    accounts.add("anna", Role.MEDEWERKER, PASSWORD)
    log_in(browser, "anna")
    browser.open(f"/verzendingen/{handle.run_id}")
    WebDriverWait(browser.driver, 60, poll_frequency=0.2).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, SENT)) >= 5, "never 5 sent on the page"
    )  # the page follows the run: a few sent, most to come

    browser.click("a[data-action=pause]")
    assert browser.h1 == "Verzending pauzeren"
    browser.click("form[data-action=pause] button")

    assert browser.find("#live").get_attribute("data-run-state") == states.RUN_PAUSED
    assert browser.find(".status-line").text.startswith("Gepauzeerd door anna om ")
    time.sleep(2)  # the attempts under way when it was paused finish
    during_pause = len(smtp_server.messages)
    time.sleep(3)
    assert len(smtp_server.messages) == during_pause < 39
    assert ledger.counts(handle.run_id)[states.SENT] == during_pause
    browser.click("a[data-action=resume]")
    assert browser.h1 == "Verzending hervatten"
    browser.click("form[data-action=resume] button")

    browser.wait_for(SENT, 39, timeout=90)
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 39
    browser.wait_for(".status-line[data-finished=ja]", 1, timeout=20)
    assert browser.find_all("#live[hx-get]") == []  # it stopped asking
    [last] = ledger.status(handle.run_id, ["wijdemeren"]).recipients
    outcomes = [h["outcome"] for h in last.history]
    assert outcomes.index(states.OUTCOME_PAUSED) < outcomes.index(states.OUTCOME_RESUMED)


def test_a_lezer_sees_the_run_state_and_is_offered_no_control(
    browser: Browser, accounts: Accounts, worker_pool: WorkerPool
) -> None:
    paused = start_run(worker_pool.env, BUNDLED_LIST)  # no worker: everyone stays queued
    control.pause(paused.session, paused.run_id, "anna")
    awaiting = start_run(worker_pool.env, BUNDLED_LIST, plan=RunPlan(needs_approval=True))
    accounts.add("lezer", Role.LEZER, PASSWORD)
    log_in(browser, "lezer")

    states_listed = {
        row.get_attribute("data-run"): row.get_attribute("data-run-state")
        for row in browser.find_all("tr[data-run]")
    }
    assert states_listed == {
        paused.run_id: states.RUN_PAUSED,
        awaiting.run_id: states.RUN_AWAITING_APPROVAL,
    }
    for handle, sentence in [
        (paused, "Gepauzeerd door anna om "),
        (awaiting, "Wacht op goedkeuring door iemand anders dan test."),
    ]:
        browser.click(f"tr[data-run='{handle.run_id}'] a")
        assert browser.find(".status-line").text.startswith(sentence)
        assert browser.find_all("#live [data-action]") == []
        browser.open("/")
