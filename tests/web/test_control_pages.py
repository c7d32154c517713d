"""Run control on the web page over real HTTP, on a real `distributie web` and the suite's
Redis: a proefzending, approval by a second person (never the creator), a scheduled start,
pause and resume, each through the same operations as the CLI and recorded with the account's
name; role limits and CSRF change nothing; the run's state is said on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from distributie import states
from distributie.accounts import Accounts, Role
from distributie.ledger import Ledger
from distributie.operations import control
from distributie.operations.runs import RunPlan
from distributie.web.words import long_moment
from tests.support.redis import TestRedis
from tests.support.web import PASSWORD, Http, Reply, WebProcess, start_web, web_env
from tests.support.workers import RunHandle, fast_settings_env, start_run
from tests.web.test_run_pages import BUNDLED_LIST, MAILING

ZONE = ZoneInfo("Europe/Amsterdam")  # DISTRIBUTIE_TIMEZONE's default
CHECKED = f"/nieuw/{MAILING}/standaard"


@pytest.fixture(scope="module")
def approval_web(
    redis_server: TestRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebProcess]:
    """`distributie web` with DISTRIBUTIE_REQUIRE_APPROVAL=true."""
    process = start_web(
        web_env(redis_server.url, require_approval="true"), tmp_path_factory.mktemp("approval")
    )
    yield process
    process.stop()


def visitor(
    web: WebProcess, accounts: Accounts, name: str, role: Role = Role.MEDEWERKER, email: str = ""
) -> Http:
    accounts.add(name, role, PASSWORD, email or None)
    person = Http(web.url)
    assert person.log_in(name).status == 303
    return person


def field(page: Reply, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*? value="([^"]*)"', page.body)
    assert found, f"no field {name} ({page.status})"
    return found.group(1)


def start_from_page(person: Http, when: str = "") -> Reply:
    """Nieuwe verzending with the bundled list: the start's confirm step, then its form."""
    page = person.get(f"{CHECKED}/starten")
    form = {"csrf_token": field(page, "csrf_token"), "verzoek": field(page, "verzoek")}
    return person.post(f"{CHECKED}/starten", form | {"verzenden_op": when})


def send_proef(person: Http, address: str, gemeente: str = "soest") -> Reply:
    page = person.get(CHECKED)
    form = {"csrf_token": field(page, "csrf_token"), "verzoek": field(page, "verzoek")}
    return person.post(f"{CHECKED}/proef", form | {"test_to": address, "gemeente": gemeente})


def post_form(person: Http, path: str) -> Reply:
    """A control action's confirm step, then its form as the browser would send it."""
    page = person.get(path)
    return person.post(path, {"csrf_token": field(page, "csrf_token")})


def queued(redis_url: str, tmp_path: Path, by: str = "anna", **plan: Any) -> RunHandle:
    """A run of the bundled list created as `send` does, with no worker to send it."""
    env = fast_settings_env(redis_url, tmp_path / "outbox")
    return start_run(env, BUNDLED_LIST, by=by, plan=RunPlan(**plan))


def snapshot(ledger: Ledger) -> list[tuple[str, dict[str, str], dict[str, int], list[int]]]:
    """Everything a control action could change: each run's hash, counts and histories."""
    found = []
    for run_id in ledger.run_ids():
        status = ledger.status(run_id)
        histories = [len(r.history) for r in status.recipients]
        found.append((run_id, ledger.run_info(run_id), status.counts, histories))
    return found


def test_starting_with_approval_required_creates_a_run_that_awaits_approval(
    approval_web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    anna = visitor(approval_web, accounts, "anna")

    reply = start_from_page(anna)

    assert reply.status == 303
    [run_id] = ledger.run_ids()
    assert ledger.run_control(run_id).stored_state == states.RUN_AWAITING_APPROVAL
    assert ledger.counts(run_id)[states.QUEUED] == 39
    page = anna.get(reply.location).body
    assert "De verzending van 39 e-mails is aangemaakt en wacht op goedkeuring" in page
    assert "Wacht op goedkeuring door iemand anders dan anna." in page
    assert 'data-action="approve"' not in page and 'data-action="reject"' not in page
    assert "U hebt deze verzending zelf aangemaakt" in page


def test_the_creator_is_refused_approval_with_a_clear_page_and_nothing_changes(
    approval_web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    anna = visitor(approval_web, accounts, "anna")
    run_id = start_from_page(anna).location.rsplit("/", 1)[1]
    before = snapshot(ledger)
    token = anna.csrf_token(f"/verzendingen/{run_id}")

    confirm = anna.get(f"/verzendingen/{run_id}/goedkeuren")
    crafted = anna.post(f"/verzendingen/{run_id}/goedkeuren", {"csrf_token": token})

    for reply in (confirm, crafted):
        assert reply.status == 403
        assert "Iemand anders moet goedkeuren" in reply.body
        assert "vier-ogenprincipe" in reply.body and "Er is niets veranderd." in reply.body
    assert snapshot(ledger) == before


def test_a_colleague_approves_and_is_recorded_as_the_approver(
    approval_web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    anna = visitor(approval_web, accounts, "anna")
    run_id = start_from_page(anna).location.rsplit("/", 1)[1]
    bram = visitor(approval_web, accounts, "bram", Role.BEHEERDER)
    assert 'data-action="approve"' in bram.get(f"/verzendingen/{run_id}").body

    reply = post_form(bram, f"/verzendingen/{run_id}/goedkeuren")

    assert reply.status == 303
    run = ledger.run_control(run_id)
    assert (run.stored_state, run.approved_by) == (states.RUN_ACTIVE, "bram")
    [soest] = ledger.status(run_id, ["soest"]).recipients
    assert soest.history[-1]["outcome"] == states.OUTCOME_APPROVED
    assert soest.history[-1]["worker"] == "bram"
    assert "Goedgekeurd. 39 e-mail(s) worden nu verstuurd." in bram.get(reply.location).body


def test_a_colleague_rejects_and_every_recipient_is_cancelled(
    approval_web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    anna = visitor(approval_web, accounts, "anna")
    run_id = start_from_page(anna).location.rsplit("/", 1)[1]
    bram = visitor(approval_web, accounts, "bram")

    reply = post_form(bram, f"/verzendingen/{run_id}/afwijzen")

    assert reply.status == 303
    assert ledger.counts(run_id)[states.CANCELLED] == 39
    assert ledger.run_control(run_id).rejected_by == "bram"
    page = anna.get(f"/verzendingen/{run_id}").body
    assert 'data-run-state="finished"' in page
    assert "De verzending is afgewezen door bram." in page
    assert "<dt>Afgewezen</dt><dd>door bram om " in page


def control_posts(run_id: str) -> list[str]:
    return [
        f"/verzendingen/{run_id}/{action}"
        for action in ("goedkeuren", "afwijzen", "pauzeren", "hervatten")
    ]


def test_a_lezer_sees_no_control_button_and_every_control_post_is_403_with_nothing_changed(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    awaiting = queued(redis_url, tmp_path, needs_approval=True)
    active = queued(redis_url, tmp_path)
    paused = queued(redis_url, tmp_path)
    control.pause(paused.session, paused.run_id, "anna")
    lezer = visitor(web, accounts, "lezer", Role.LEZER)
    before = snapshot(awaiting.ledger)
    token = lezer.csrf_token("/")

    pages = [lezer.get(f"/verzendingen/{h.run_id}").body for h in (awaiting, active, paused)]
    replies = [
        lezer.post(path, {"csrf_token": token}).status
        for handle in (awaiting, active, paused)
        for path in control_posts(handle.run_id)
    ]
    replies.append(
        lezer.post(f"{CHECKED}/proef", {"csrf_token": token, "verzoek": "v", "test_to": "a@b.nl",
                                        "gemeente": "soest"}).status
    )  # fmt: skip

    assert set(replies) == {403}
    assert snapshot(awaiting.ledger) == before
    for page in pages:
        assert not re.search(r'data-action="(approve|reject|pause|resume|cancel)"', page)
    assert [re.search(r'data-run-state="(\w+)"', p).group(1) for p in pages] == [  # type: ignore[union-attr]
        states.RUN_AWAITING_APPROVAL,
        states.RUN_ACTIVE,
        states.RUN_PAUSED,
    ]


def test_control_posts_without_a_valid_csrf_token_are_refused_and_nothing_changes(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    awaiting = queued(redis_url, tmp_path, needs_approval=True)
    active = queued(redis_url, tmp_path)
    bram = visitor(web, accounts, "bram")
    before = snapshot(active.ledger)

    for handle in (awaiting, active):
        for path in control_posts(handle.run_id):
            assert bram.post(path, {}).status == 403, path
            assert bram.post(path, {"csrf_token": "forged"}).status == 403, path
    proef = {"verzoek": "v", "test_to": "bram@example.nl", "gemeente": "soest"}
    assert bram.post(f"{CHECKED}/proef", proef).status == 403
    assert bram.post(f"{CHECKED}/starten", {"verzoek": "v", "verzenden_op": ""}).status == 403

    assert snapshot(active.ledger) == before


def test_pause_and_resume_from_the_page_are_recorded_with_the_account_name(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = queued(redis_url, tmp_path)
    anna = visitor(web, accounts, "anna")
    run = f"/verzendingen/{handle.run_id}"

    paused = post_form(anna, f"{run}/pauzeren")
    paused_page = anna.get(run).body
    resumed = post_form(anna, f"{run}/hervatten")

    assert (paused.status, resumed.status) == (303, 303)
    assert 'data-action="resume"' in paused_page and 'data-action="pause"' not in paused_page
    assert re.search(
        r"Gepauzeerd door anna om \d\d:\d\d: 0 van 39 ontvangers verwerkt.", paused_page
    )
    [soest] = handle.ledger.status(handle.run_id, ["soest"]).recipients
    assert [(h["outcome"], h["worker"]) for h in soest.history[-2:]] == [
        (states.OUTCOME_PAUSED, "anna"),
        (states.OUTCOME_RESUMED, "anna"),
    ]
    assert handle.ledger.run_control(handle.run_id).stored_state == states.RUN_ACTIVE
    assert "39 e-mail(s) worden verstuurd" in anna.get(resumed.location).body


def test_resume_of_a_run_that_is_not_paused_gets_a_clear_page_and_changes_nothing(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = queued(redis_url, tmp_path)
    anna = visitor(web, accounts, "anna")
    before = snapshot(handle.ledger)
    token = anna.csrf_token(f"/verzendingen/{handle.run_id}")

    reply = anna.post(f"/verzendingen/{handle.run_id}/hervatten", {"csrf_token": token})

    assert reply.status == 409
    assert "hervatten kan alleen bij een gepauzeerde verzending" in reply.body
    assert snapshot(handle.ledger) == before


def test_a_scheduled_start_from_the_page_creates_a_scheduled_run_at_that_time(
    web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    anna = visitor(web, accounts, "anna")
    due = (datetime.now(ZONE) + timedelta(days=2)).replace(second=0, microsecond=0)

    reply = start_from_page(anna, due.strftime("%Y-%m-%dT%H:%M"))

    assert reply.status == 303
    [run_id] = ledger.run_ids()
    run = ledger.run_control(run_id)
    assert (run.stored_state, run.release_at) == (states.RUN_SCHEDULED, due.timestamp())
    page = anna.get(reply.location).body
    assert f"Gepland voor {long_moment(due)}." in page  # e.g. maandag 7 december 2026 om 09:00
    assert 'data-run-state="scheduled"' in page
    assert 'data-action="pause"' not in page and 'data-action="cancel"' in page
    assert 'data-run-state="scheduled"' in anna.get("/").body


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("gisteren", "Vul een datum en tijd in"),
        ("2019-01-07T09:00", "Dit tijdstip is al voorbij."),
        ("2999-01-07T09:00", "meer dan een jaar vooruit"),
    ],
)
def test_a_start_time_that_is_not_usable_is_refused_beside_its_field_and_nothing_is_stored(
    web: WebProcess, accounts: Accounts, ledger: Ledger, typed: str, said: str
) -> None:
    anna = visitor(web, accounts, "anna")

    reply = start_from_page(anna, typed)

    assert reply.status == 422
    assert said in reply.body
    assert 'id="verzenden_op-fout"' in reply.body and 'aria-invalid="true"' in reply.body
    assert f'value="{typed}"' in reply.body
    assert ledger.run_ids() == []


def test_a_time_typed_as_people_write_it_is_understood(
    web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    anna = visitor(web, accounts, "anna")
    due = (datetime.now(ZONE) + timedelta(days=3)).replace(second=0, microsecond=0)

    assert start_from_page(anna, due.strftime("%d-%m-%Y %H:%M")).status == 303

    [run_id] = ledger.run_ids()
    assert ledger.run_control(run_id).release_at == due.timestamp()


def test_cancel_stops_a_scheduled_run_and_its_page_says_it_is_finished(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = queued(redis_url, tmp_path, release_at=datetime.now(ZONE) + timedelta(hours=1))
    anna = visitor(web, accounts, "anna")
    confirm = anna.get(f"/verzendingen/{handle.run_id}/annuleren").body

    reply = post_form(anna, f"/verzendingen/{handle.run_id}/annuleren")

    assert "De verzending is gepland voor" in confirm
    assert reply.status == 303
    assert handle.ledger.counts(handle.run_id)[states.CANCELLED] == 39
    assert handle.ledger.status(handle.run_id).run_state == states.RUN_FINISHED
    page = anna.get(f"/verzendingen/{handle.run_id}").body
    assert 'data-run-state="finished"' in page and "hx-get" not in page


def test_the_test_address_defaults_to_the_accounts_email_and_the_gemeente_to_the_first(
    web: WebProcess, accounts: Accounts
) -> None:
    anna = visitor(web, accounts, "anna", email="anna@secretariaat.example")

    page = anna.get(CHECKED).body

    assert 'data-action="test-send"' in page
    assert field(anna.get(CHECKED), "test_to") == "anna@secretariaat.example"
    first = re.search(r'<select id="proef-gemeente" name="gemeente">\s*<option value="(\S+)"', page)
    assert first and first.group(1) == "amersfoort"


def test_a_test_send_from_the_page_is_a_test_run_to_that_address_only(
    web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    anna = visitor(web, accounts, "anna")

    reply = send_proef(anna, "proef@secretariaat.example", "soest")

    assert reply.status == 303
    [run_id] = ledger.run_ids()
    status = ledger.status(run_id)
    assert status.control.kind == states.RUN_KIND_TEST
    assert [(r.key, r.email) for r in status.recipients] == [
        ("soest", "proef@secretariaat.example")
    ]
    page = anna.get(reply.location).body
    assert "<h1>Proefzending: " in page and "Dit is een proefzending" in page
    listed = anna.get("/").body
    assert 'data-kind="test"' in listed and "Proefzending</span>" in listed


@pytest.mark.parametrize(
    ("address", "gemeente", "said"),
    [
        ("proef(at)secretariaat.example", "soest", "Dit is geen geldig e-mailadres."),
        ("", "soest", "Vul het e-mailadres in waar de proef heen moet."),
        ("proef@secretariaat.example", "atlantis", "Kies een gemeente uit de lijst."),
    ],
)
def test_a_test_send_with_a_wrong_address_or_gemeente_is_refused_and_nothing_is_stored(
    web: WebProcess, accounts: Accounts, ledger: Ledger, address: str, gemeente: str, said: str
) -> None:
    anna = visitor(web, accounts, "anna")

    reply = send_proef(anna, address, gemeente)

    assert reply.status == 422
    assert said in reply.body and "Er is iets niet goed ingevuld" in reply.body
    assert ledger.run_ids() == []


def test_a_waiting_run_is_asked_for_news_slowly_and_a_sending_one_every_3_seconds(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    active = queued(redis_url, tmp_path)
    awaiting = queued(redis_url, tmp_path, needs_approval=True)
    soon = queued(redis_url, tmp_path, release_at=datetime.now(ZONE) + timedelta(seconds=7))
    anna = visitor(web, accounts, "anna")

    def every(handle: RunHandle) -> str:
        page = anna.get(f"/verzendingen/{handle.run_id}/stand", {"HX-Request": "true"}).body
        found = re.search(r'hx-trigger="every (\d+)s"', page)
        assert found, page[:300]
        return found.group(1)

    assert every(active) == "3"
    assert every(awaiting) == "15"
    assert int(every(soon)) in range(3, 9)  # just after its time, not 15 s later


def test_the_run_state_is_said_in_the_list_on_the_run_page_and_on_a_recipients_page(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    paused = queued(redis_url, tmp_path)
    control.pause(paused.session, paused.run_id, "anna")
    scheduled = queued(redis_url, tmp_path, release_at=datetime.now(ZONE) + timedelta(hours=2))
    awaiting = queued(redis_url, tmp_path, by="bram", needs_approval=True)
    anna = visitor(web, accounts, "anna")

    listed = anna.get("/").body
    recipient = anna.get(f"/verzendingen/{paused.run_id}/ontvangers/soest").body
    awaiting_page = anna.get(f"/verzendingen/{awaiting.run_id}").body

    for handle, word in [(paused, "gepauzeerd"), (scheduled, "gepland voor"),
                         (awaiting, "wacht op goedkeuring")]:  # fmt: skip
        row = re.search(rf'<tr data-run="{handle.run_id}".*?</tr>', listed, re.S)
        assert row and word in row.group(0), word
    assert ">gepauzeerd</span>" in recipient
    assert "Wacht op goedkeuring door iemand anders dan bram." in awaiting_page
    assert 'data-action="approve"' in awaiting_page and 'data-action="reject"' in awaiting_page
