"""The run pages as a secretary uses them, in a real browser on a real `distributie web`, with
real workers sending: upload, preview and downloads, start, the live page, resend, retry,
cancel, role limits and escaping. axe-core checks every page the browser lands on."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from selenium.webdriver.remote.webelement import WebElement

from distributie import states
from distributie.accounts import Accounts, Role
from distributie.ledger import Ledger
from tests.support.browser import Browser, is_stale
from tests.support.smtp import RecordingSMTPServer
from tests.support.web import add_account
from tests.support.workers import WorkerPool, start_run, wait_until_settled
from tests.web.test_login_in_browser import log_in
from tests.web.test_run_pages import BUNDLED_LIST

SENT = "tr[data-state=sent]"


def upload(browser: Browser, path: Path) -> None:
    browser.open("/nieuw")
    browser.find("#lijst-upload").click()
    browser.find("#recipients").send_keys(str(path))
    browser.click("form[data-action=upload] button")


def start_checked_list(browser: Browser) -> None:
    browser.click("a[data-action=start]")
    assert browser.h1 == "Verzending starten"
    browser.click("form[data-action=start] button")


def not_reloaded(element: WebElement) -> bool:
    return not is_stale(element)


def test_an_upload_with_problems_shows_each_in_a_table_and_nothing_can_start(
    browser: Browser, accounts: Accounts, ledger: Ledger, tmp_path: Path
) -> None:
    rows = BUNDLED_LIST.read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace("burgemeester@baarn.example", "burgemeester(at)baarn.example")
    rows[7] = rows[7].replace(",mevrouw,", ",burgemeesteres,", 1)
    broken = tmp_path / "lijst mei.csv"
    broken.write_text("\n".join(rows), encoding="utf-8")
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")

    upload(browser, broken)

    assert browser.h1 == "De lijst is afgekeurd"
    assert "2 problemen in lijst mei.csv" in browser.text
    cells = [
        [cell.text for cell in row.find_elements("css selector", "td")]
        for row in browser.find_all("table.problems tbody tr")
    ]
    assert [row[:3] for row in cells] == [
        ["3", "email", "burgemeester(at)baarn.example"],
        ["8", "aanhef", "burgemeesteres"],
    ]
    assert cells[0][3] == "Dit is geen geldig e-mailadres."
    assert browser.find_all("[data-action=start]") == []
    assert ledger.run_ids() == []


def test_the_preview_shows_the_message_and_downloads_the_exact_eml_and_docx(
    browser: Browser, accounts: Accounts, tmp_path: Path
) -> None:
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")
    upload(browser, BUNDLED_LIST)
    assert browser.h1 == "Klaar om te verzenden"
    assert browser.find("[data-count]").text == "39"
    assert browser.find("[data-delivery]").text.startswith("outbox: er wordt niets gemaild")

    browser.find("#gemeente option[value=soest]").click()
    browser.click("form.pick button")

    assert browser.h1 == "Voorbeeld: e-mail aan Soest"
    subject = browser.find("[data-subject]").text
    assert subject == "Regionale Veiligheidsstrategie 2019-2022 voor gemeente Soest"
    assert "Geachte heer Van Verzonnenberg," in browser.find("[data-text]").text
    frame = browser.find("iframe.message-html")
    assert frame.get_attribute("sandbox") == ""  # no scripts, no same origin
    browser.driver.switch_to.frame(frame)
    assert "Geachte heer Van Verzonnenberg," in browser.find("body").text
    browser.driver.switch_to.default_content()
    eml = browser.download("[data-action=download-eml]", tmp_path / "downloads")
    docx = browser.download("[data-action=download-attachment]", tmp_path / "downloads")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["Subject"] == subject
    assert message["To"].addresses[0].addr_spec == "burgemeester@soest.example"
    [attached] = list(message.iter_attachments())
    assert docx.name == attached.get_filename() == "Voorbeeld-aanbiedingsbrief gemeente Soest.docx"
    # The same letter as the message carries; only the .docx's creation time may differ.
    assert (
        docx.read_bytes()[:2] == b"PK"
        and abs(len(docx.read_bytes()) - len(attached.get_content())) < 64
    )


def test_a_started_run_reaches_39_verzonden_on_the_page_without_a_reload(
    browser: Browser, accounts: Accounts, worker_pool: WorkerPool, ledger: Ledger
) -> None:
    worker_pool.start(concurrency=2, DISTRIBUTIE_RATE_LIMIT="8/s")  # about 5 s for 39
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")
    upload(browser, BUNDLED_LIST)

    start_checked_list(browser)
    page = browser.find("html")
    assert browser.find(".status-line").get_attribute("data-finished") == "nee"
    browser.wait_for(SENT, 39, timeout=90)

    assert not_reloaded(page)
    browser.wait_for(".status-line[data-finished=ja]", 1, timeout=10)
    assert browser.find_all("#live[hx-get]") == []  # it stopped asking
    assert browser.find("[data-count=sent] .count-number").text == "39"
    browser.check_page()  # axe-core on the page as it is now
    [run_id] = ledger.run_ids()
    assert ledger.run_info(run_id)["created_by"] == "anna"
    assert ledger.counts(run_id)[states.SENT] == 39


def test_resend_with_a_new_address_sends_it_there(
    browser: Browser, accounts: Accounts, worker_pool: WorkerPool, redis_url: str
) -> None:
    worker_pool.start(concurrency=2)
    handle = start_run(worker_pool.env, BUNDLED_LIST)
    wait_until_settled(handle.ledger, handle.run_id)
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")
    browser.open(f"/verzendingen/{handle.run_id}")

    browser.click("tr[data-gemeente=soest] th a")
    browser.fill("to", "burgemeester.nieuw@soest.example")
    browser.click("form[data-action=resend] button")
    assert "naar het nieuwe adres burgemeester.nieuw@soest.example" in browser.text
    browser.click("form[data-action=resend] button")

    assert "Soest staat weer in de wachtrij" in browser.text
    wait_until_settled(handle.ledger, handle.run_id)
    outbox = Path(worker_pool.env["DISTRIBUTIE_OUTBOX_DIR"]) / handle.run_id / "soest.eml"
    sent = email.message_from_bytes(outbox.read_bytes(), policy=email.policy.default)
    assert sent["To"].addresses[0].addr_spec == "burgemeester.nieuw@soest.example"
    [soest] = handle.ledger.status(handle.run_id, ["soest"]).recipients
    assert soest.state == states.SENT and soest.email == "burgemeester.nieuw@soest.example"
    assert soest.message_id.endswith(".soest.1@veiligheidscollege-mn.example>")


def test_retry_sends_the_failed_again(
    browser: Browser,
    accounts: Accounts,
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
) -> None:
    smtp_server.plan.refuse("burgemeester@soest.example", 550, "5.1.1 Mailbox unavailable")
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))
    handle = start_run(worker_pool.env | smtp_server.environ(timeout=2), BUNDLED_LIST)
    wait_until_settled(handle.ledger, handle.run_id)
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")
    browser.open(f"/verzendingen/{handle.run_id}")
    failed = browser.find("tr[data-state=failed]")
    assert failed.get_attribute("data-gemeente") == "soest"
    assert "Geweigerd door de mailserver." in failed.text
    smtp_server.plan.clear()  # the mailbox exists again

    browser.click("a[data-action=retry]")
    assert "1 e-mail(s) van de verzending" in browser.text
    browser.click("form[data-action=retry] button")

    assert "1 e-mail(s) staan weer in de wachtrij." in browser.text
    browser.wait_for(SENT, 39)
    assert smtp_server.deliveries_by_address()["burgemeester@soest.example"] == 1


def test_cancel_says_how_many_it_stops_and_stops_them(
    browser: Browser, accounts: Accounts, worker_pool: WorkerPool
) -> None:
    worker_pool.start(concurrency=1, DISTRIBUTIE_RATE_LIMIT="2/s")
    handle = start_run(worker_pool.env, BUNDLED_LIST)
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")
    browser.open(f"/verzendingen/{handle.run_id}")

    browser.click("a[data-action=cancel]")
    assert browser.h1 == "Verzending annuleren"
    named = int(browser.text.split("Annuleren stopt ")[1].split()[0])
    browser.click("form[data-action=cancel] button")

    counts = wait_until_settled(handle.ledger, handle.run_id)
    assert counts[states.CANCELLED] >= named - 2  # a few more went out while confirming
    assert counts[states.SENT] + counts[states.CANCELLED] == 39
    outbox = Path(worker_pool.env["DISTRIBUTIE_OUTBOX_DIR"]) / handle.run_id
    assert len(list(outbox.glob("*.eml"))) == counts[states.SENT]
    browser.open(f"/verzendingen/{handle.run_id}?status=cancelled")
    browser.wait_for("tr[data-state=cancelled]", counts[states.CANCELLED])


def test_a_lezer_follows_a_run_but_is_offered_no_action(
    browser: Browser, accounts: Accounts, worker_pool: WorkerPool
) -> None:
    handle = start_run(worker_pool.env, BUNDLED_LIST)  # no worker: everyone stays queued
    add_account(accounts, "lezer", Role.LEZER)
    log_in(browser, "lezer")

    assert browser.find_all("a[data-action=new-run]") == []
    browser.click(f"tr[data-run='{handle.run_id}'] a")
    assert browser.find_all("a[data-action=cancel], form[data-action=resend]") == []
    assert browser.find_all("a[data-action=export-xlsx]")
    browser.click("tr[data-gemeente=soest] th a")
    assert browser.find_all("form[data-action=resend]") == []
    browser.open("/nieuw")
    assert browser.h1 == "Geen toegang"


def test_html_and_script_in_a_list_are_shown_as_text(
    browser: Browser, accounts: Accounts, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    rows = BUNDLED_LIST.read_text(encoding="utf-8").splitlines()
    rows[17] = rows[17].replace("Soest,", "<script>window.hit = 1</script>Soest,", 1)
    rows[18] = rows[18].replace(",heer,", ",heer,<img src=x onerror=window.hit=2>,", 1)
    hostile = tmp_path / "lijst.csv"
    hostile.write_text("\n".join(rows), encoding="utf-8")
    handle = start_run(worker_pool.env, hostile)
    add_account(accounts, "anna", Role.MEDEWERKER)
    log_in(browser, "anna")

    browser.open(f"/verzendingen/{handle.run_id}")
    row = browser.find("tr[data-gemeente=script-window-hit-1-script-soest]")
    assert row.find_element("css selector", "th").text == "<script>window.hit = 1</script>Soest"
    browser.click("tr[data-gemeente=script-window-hit-1-script-soest] th a")

    assert browser.h1 == "<script>window.hit = 1</script>Soest"
    assert browser.driver.execute_script("return window.hit === undefined") is True
