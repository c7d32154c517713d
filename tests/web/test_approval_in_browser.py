"""The vier-ogenprincipe in a real browser, on a `distributie web` with
DISTRIBUTIE_REQUIRE_APPROVAL=true and real workers: the one who starts a run cannot approve it
(not offered, and a clear page when tried); a colleague approves it on the page and every
burgemeester gets the letter once. axe-core checks every page the browser lands on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from distributie import states
from distributie.accounts import Accounts, Role
from distributie.ledger import Ledger
from tests.support.browser import Browser
from tests.support.redis import TestRedis
from tests.support.smtp import RecordingSMTPServer
from tests.support.web import PASSWORD, WebProcess, start_web, web_env
from tests.support.workers import WorkerPool
from tests.web.test_login_in_browser import log_in
from tests.web.test_run_pages import MAILING
from tests.web.test_runs_in_browser import SENT, start_checked_list


@pytest.fixture(scope="module")
def web(redis_server: TestRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """This module's `distributie web` (the browser fixture uses it): approval required."""
    env = web_env(redis_server.url, require_approval="true")
    process = start_web(env, tmp_path_factory.mktemp("approval-web"))
    yield process
    process.stop()


def test_the_creator_cannot_approve_and_a_colleague_approves_on_the_page(
    browser: Browser,
    accounts: Accounts,
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
    ledger: Ledger,
) -> None:
    worker_pool.start(concurrency=2, **smtp_server.environ(timeout=2))
    for name in ("anna", "bram"):
        accounts.add(name, Role.MEDEWERKER, PASSWORD)
    log_in(browser, "anna")
    browser.open(f"/nieuw/{MAILING}/standaard")
    start_checked_list(browser)

    assert browser.find("#live").get_attribute("data-run-state") == "awaiting_approval"
    assert browser.find(".status-line").text == (
        "Wacht op goedkeuring door iemand anders dan anna. Er is nog niets verzonden."
    )
    assert browser.find_all("[data-action=approve], [data-action=reject]") == []
    [run_id] = ledger.run_ids()
    browser.open(f"/verzendingen/{run_id}/goedkeuren")  # as if she typed the address
    assert browser.h1 == "Iemand anders moet goedkeuren"
    assert "vier-ogenprincipe" in browser.text
    assert ledger.run_control(run_id).stored_state == states.RUN_AWAITING_APPROVAL
    assert smtp_server.messages == []
    browser.click("form[data-action=logout] button")

    log_in(browser, "bram")
    browser.click(f"tr[data-run='{run_id}'] a")
    browser.click("a[data-action=approve]")
    assert browser.h1 == "Verzending goedkeuren"
    assert "anna heeft de verzending" in browser.text
    browser.click("form[data-action=approve] button")

    browser.wait_for(SENT, 39, timeout=90)
    assert sorted(smtp_server.deliveries_by_address().values()) == [1] * 39
    assert ledger.run_control(run_id).approved_by == "bram"
    assert "goedgekeurd door bram" in browser.find(".run-facts").text
