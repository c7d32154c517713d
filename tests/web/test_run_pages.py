"""The run pages over real HTTP, on a real `distributie web` and the suite's Redis: role limits
and CSRF change nothing, hostile input gets a clear page and stores nothing, every action is
recorded with the account's name, and following a run is fast and cheap for Redis."""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from distributie import states
from distributie.accounts import Accounts, Role
from distributie.ledger import Claim, Ledger
from tests.support.ledger import create_test_run
from tests.support.redis import TestRedis
from tests.support.web import BIN, Http, WebProcess, start_web, web_env
from tests.support.workers import RunHandle, fast_settings_env, start_run
from tests.web.test_security import logged_in

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_LIST = ROOT / "recipients" / "midden-nederland.csv"
MAILING = "veiligheidsstrategie-2019"
HTMX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def small_upload_web(
    redis_server: TestRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebProcess]:
    """`distributie web` that takes lists of at most 2,000 bytes."""
    env = web_env(redis_server.url, web_max_upload_bytes="2000")
    process = start_web(env, tmp_path_factory.mktemp("small-upload"))
    yield process
    process.stop()


def queued_run(redis_url: str, tmp_path: Path, recipients: Path = BUNDLED_LIST) -> RunHandle:
    """A run of the bundled mailing, created as `send` does, with no worker to send it."""
    return start_run(fast_settings_env(redis_url, tmp_path / "outbox"), recipients)


def fail(ledger: Ledger, run_id: str, key: str) -> None:
    claim = ledger.claim(run_id, key, 1, "test:1", lease=30)
    assert isinstance(claim, Claim)
    ledger.finish(
        run_id, key, claim.claim, "test:1", outcome="permanent", state=states.FAILED,
        reply="550 5.1.1 Mailbox unavailable", code=550, message_id="<m@x>",
    )  # fmt: skip


def snapshot(ledger: Ledger) -> list[tuple[str, dict[str, int], list[int], list[str]]]:
    """Everything an action could change: every run, its counts, history lengths, addresses."""
    found = []
    for run_id in ledger.run_ids():
        status = ledger.status(run_id)
        found.append(
            (
                run_id,
                status.counts,
                [len(r.history) for r in status.recipients],
                [r.email for r in status.recipients],
            )
        )
    return found


def actions(run_id: str) -> dict[str, dict[str, str]]:
    """Every state-changing request of the run pages, with a valid form."""
    return {
        f"/nieuw/{MAILING}/standaard/starten": {"verzoek": "een-verzoek"},
        f"/verzendingen/{run_id}/opnieuw-versturen": {},
        f"/verzendingen/{run_id}/annuleren": {},
        f"/verzendingen/{run_id}/ontvangers/soest/opnieuw": {
            "to": "nieuw@soest.example",
            "bevestigd": "ja",
        },
    }


def prepared(redis_url: str, tmp_path: Path) -> RunHandle:
    handle = queued_run(redis_url, tmp_path)
    handle.ledger.cancel(handle.run_id, "soest", "test")  # done: may be resent
    fail(handle.ledger, handle.run_id, "baarn")  # may be retried
    return handle


def test_a_lezer_is_refused_every_change_and_nothing_changes(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = prepared(redis_url, tmp_path)
    visitor = logged_in(web, accounts, "lezer", Role.LEZER)
    before = snapshot(handle.ledger)
    token = visitor.csrf_token("/")

    replies = {
        path: visitor.post(path, form | {"csrf_token": token}).status
        for path, form in actions(handle.run_id).items()
    }

    assert set(replies.values()) == {403}, replies
    assert snapshot(handle.ledger) == before
    assert visitor.get("/nieuw").status == 403
    assert visitor.get(f"/nieuw/{MAILING}/standaard/voorbeeld/soest").status == 403


def test_a_lezer_sees_the_run_and_downloads_its_reports(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = queued_run(redis_url, tmp_path)
    visitor = logged_in(web, accounts, "lezer", Role.LEZER)

    page = visitor.get(f"/verzendingen/{handle.run_id}")

    assert page.status == 200
    assert 'data-action="cancel"' not in page.body  # not offered to a lezer
    assert 'data-action="export-csv"' in page.body
    assert visitor.get(f"/verzendingen/{handle.run_id}/rapport.csv").status == 200
    assert visitor.get(f"/verzendingen/{handle.run_id}/rapport.xlsx").status == 200


def test_a_post_without_a_valid_csrf_token_is_refused_and_nothing_changes(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = prepared(redis_url, tmp_path)
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)
    before = snapshot(handle.ledger)

    for path, form in actions(handle.run_id).items():
        assert visitor.post(path, form).status == 403, path
        assert visitor.post(path, form | {"csrf_token": "forged"}).status == 403, path

    assert snapshot(handle.ledger) == before


def test_a_run_or_gemeente_that_does_not_exist_is_404(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = queued_run(redis_url, tmp_path)
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)
    run = handle.run_id

    for path in [
        "/verzendingen/20190101-000000-dead",
        "/verzendingen/..%2F..%2Fetc",
        "/verzendingen/a:b/stand",
        f"/verzendingen/{run}/ontvangers/atlantis",
        f"/verzendingen/{run}/ontvangers/SOEST",
        "/verzendingen/20190101-000000-dead/rapport.csv",
        "/nieuw/bestaat-niet/standaard",
        f"/nieuw/{MAILING}/0123456789abcdef",
        f"/nieuw/{MAILING}/..%2F..",
        f"/nieuw/{MAILING}/standaard/voorbeeld/atlantis",
        f"/nieuw/{MAILING}/standaard/voorbeeld/soest/bijlage/7",
    ]:
        reply = visitor.get(path)
        assert reply.status == 404, path
        assert "<h1>Pagina niet gevonden</h1>" in reply.body, path


def test_every_action_is_recorded_with_the_name_of_the_account(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = prepared(redis_url, tmp_path)
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)
    token = visitor.csrf_token("/")

    for path, form in actions(handle.run_id).items():
        assert visitor.post(path, form | {"csrf_token": token}).status == 303, path

    started = [r for r in handle.ledger.run_ids() if r != handle.run_id]
    assert [handle.ledger.run_info(r)["created_by"] for r in started] == ["anna"]
    status = handle.ledger.status(handle.run_id)
    by_key = {r.key: r for r in status.recipients}
    assert by_key["soest"].history[-1]["worker"] == "anna"
    assert "resend requested by anna to nieuw@soest.example" in by_key["soest"].history[-1]["reply"]
    # Retried, and then (queued again) cancelled with the rest:
    replies = [entry["reply"] for entry in by_key["baarn"].history]
    assert replies[-2].startswith("retry requested by anna")
    assert replies[-1] == by_key["amersfoort"].history[-1]["reply"] == "cancelled by anna"


def test_the_same_start_form_sent_twice_starts_one_run(
    web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)
    confirm = visitor.get(f"/nieuw/{MAILING}/standaard/starten").body
    form = {
        "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', confirm)[-1],
        "verzoek": re.findall(r'name="verzoek" value="([^"]+)"', confirm)[0],
    }

    first = visitor.post(f"/nieuw/{MAILING}/standaard/starten", form)
    second = visitor.post(f"/nieuw/{MAILING}/standaard/starten", form)

    assert first.status == second.status == 303
    assert second.location == first.location
    assert len(ledger.run_ids()) == 1


def test_a_resend_to_an_invalid_address_is_refused_and_nothing_changes(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = prepared(redis_url, tmp_path)
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)
    token = visitor.csrf_token("/")
    before = snapshot(handle.ledger)
    path = f"/verzendingen/{handle.run_id}/ontvangers/soest/opnieuw"

    for address in ["burgemeester(at)soest.example", "jan@", "a b@soest.example", "<x>@y.nl"]:
        for confirmed in ({}, {"bevestigd": "ja"}):
            reply = visitor.post(path, {"csrf_token": token, "to": address, **confirmed})
            assert reply.status == 422, address
            assert "Dit is geen geldig e-mailadres" in reply.body

    assert snapshot(handle.ledger) == before


def test_an_upload_of_the_wrong_kind_or_an_empty_one_gets_a_clear_page_and_nothing_is_kept(
    web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)
    token = visitor.csrf_token("/nieuw")
    form = {"csrf_token": token, "mailing": MAILING, "lijst": "upload"}

    for name, data, says in [
        ("lijst.pdf", b"%PDF-1.4 ...", "Dit soort bestand (.pdf) kan distributie niet lezen"),
        ("lijst.csv", b"", "Het bestand is leeg."),
        ("lijst.xlsx", b"PK\x03\x04 kapot", "Dit is geen leesbaar Excel-bestand"),
    ]:
        reply = visitor.upload("/nieuw", form, "recipients", name, data)
        assert reply.status == 422, name
        assert "<h1>De lijst is afgekeurd</h1>" in reply.body
        assert says in reply.body, name
        assert 'data-action="start"' not in reply.body

    no_file = visitor.upload("/nieuw", form, "recipients", "", b"")
    assert no_file.status == 422
    assert "Kies het bestand met de ontvangers" in no_file.body
    assert not list((web.cwd / ".distributie" / "uploads").rglob("*.*"))
    assert ledger.run_ids() == []


def test_a_too_large_upload_gets_a_clear_page_and_nothing_is_kept(
    small_upload_web: WebProcess, accounts: Accounts
) -> None:
    visitor = logged_in(small_upload_web, accounts, "anna", Role.MEDEWERKER)
    form = {"csrf_token": visitor.csrf_token("/nieuw"), "mailing": MAILING, "lijst": "upload"}

    just_over = visitor.upload("/nieuw", form, "recipients", "lijst.csv", b"x" * 2001)
    far_over = visitor.upload("/nieuw", form, "recipients", "lijst.csv", b"x" * 200_000)

    for reply in (just_over, far_over):
        assert reply.status == 413
        assert "<h1>Bestand te groot</h1>" in reply.body
        assert "Er is niets opgeslagen" in reply.body
    assert "distributie neemt lijsten aan tot 2 kB" in just_over.body
    assert not (small_upload_web.cwd / ".distributie" / "uploads").exists()


def test_cells_with_html_or_script_are_shown_as_text(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    rows = BUNDLED_LIST.read_text(encoding="utf-8").splitlines()
    rows[17] = rows[17].replace("Soest,", '<script>alert("x")</script> Soest,', 1)
    rows[18] = rows[18].replace(",heer,", ",heer,<img src=x onerror=alert(1)>,", 1)
    hostile = tmp_path / "lijst.csv"
    hostile.write_text("\n".join(rows), encoding="utf-8")
    handle = queued_run(redis_url, tmp_path, hostile)
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)

    run_page = visitor.get(f"/verzendingen/{handle.run_id}").body
    key = "script-alert-x-script-soest"
    recipient_page = visitor.get(f"/verzendingen/{handle.run_id}/ontvangers/{key}").body
    broken = [*rows[:3], rows[3].replace("burgemeester@", "<b>burgemeester</b>(at)")]
    problems = visitor.upload(
        "/nieuw",
        {"csrf_token": visitor.csrf_token("/nieuw"), "mailing": MAILING, "lijst": "upload"},
        "recipients",
        "lijst.csv",
        "\n".join(broken).encode(),
    ).body

    for body in (run_page, recipient_page):
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Soest" in body
        assert "<script>alert" not in body
    assert "<code>&lt;b&gt;burgemeester&lt;/b&gt;(at)" in problems
    assert "<b>burgemeester" not in problems


def test_the_csv_report_is_what_status_csv_prints(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = prepared(redis_url, tmp_path)
    visitor = logged_in(web, accounts, "lezer", Role.LEZER)

    report = visitor.get(f"/verzendingen/{handle.run_id}/rapport.csv")
    printed = subprocess.run(
        [str(BIN / "distributie"), "status", handle.run_id, "--csv"],
        env=fast_settings_env(redis_url, tmp_path / "outbox"),
        capture_output=True,
        check=True,
    ).stdout

    assert report.headers["Content-Disposition"].startswith("attachment")
    assert report.data.startswith(b"\xef\xbb\xbf")  # so Excel reads it as UTF-8
    assert report.data.removeprefix(b"\xef\xbb\xbf") == printed


def test_a_page_that_follows_a_run_costs_redis_two_requests_per_poll(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = queued_run(redis_url, tmp_path)
    visitor = logged_in(web, accounts, "lezer", Role.LEZER)
    page = visitor.get(f"/verzendingen/{handle.run_id}").body
    seconds = int(re.search(r'hx-trigger="every (\d+)s"', page).group(1))  # type: ignore[union-attr]
    poll = f"/verzendingen/{handle.run_id}/stand"
    visitor.get(poll, headers=HTMX)  # checks the account, and notes that in the session

    def ten_polls() -> None:
        for _ in range(10):
            reply = visitor.get(poll, headers=HTMX)
            assert reply.status == 200 and 'hx-trigger="every' in reply.body

    requests = requests_to_redis(redis_url, ten_polls)

    assert [command for command, _ in requests].count("get") == 10  # the session
    assert [command for command, _ in requests].count("evalsha") == 10  # run, counts, rows
    assert len(requests) == 20, requests
    assert 2 <= seconds <= 3
    assert len(requests) / 10 / seconds <= 1  # at most one Redis read per second per page


def requests_to_redis(redis_url: str, action: Callable[[], None]) -> list[tuple[str, str]]:
    """(command, client address) of every request clients sent to Redis while `action` ran;
    the commands a script runs inside Redis are part of its one request, not counted."""
    marker = f"distributie-test-{time.monotonic_ns()}"
    client = redis.Redis.from_url(redis_url)
    seen: list[tuple[str, str]] = []
    with client.monitor() as monitor:
        action()
        client.echo(marker)
        for event in monitor.listen():
            if event["command"] == f"ECHO {marker}":
                ours = event["client_address"], event["client_port"]
                break
            if event.get("client_type") != "lua":
                where = event["client_address"], event["client_port"]
                seen.append((event["command"].split()[0].lower(), where))
    client.close()
    return [(command, f"{host}:{port}") for command, (host, port) in seen if (host, port) != ours]


def test_a_poll_after_the_session_ended_sends_the_page_to_the_login(
    web: WebProcess, accounts: Accounts, redis_url: str, tmp_path: Path
) -> None:
    handle = queued_run(redis_url, tmp_path)

    reply = Http(web.url).get(f"/verzendingen/{handle.run_id}/stand", headers=HTMX)

    assert reply.status == 204
    assert reply.headers["HX-Redirect"] == "/inloggen"


def test_the_page_of_a_run_of_10000_answers_within_half_a_second(
    web: WebProcess, accounts: Accounts, ledger: Ledger
) -> None:
    run_id = create_test_run(ledger, count=10_000)
    for key in ("g9990", "g42"):
        ledger.cancel(run_id, key, "test")
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)

    for path, shows in [
        (f"/verzendingen/{run_id}", 'data-gemeente="g50"'),
        (f"/verzendingen/{run_id}?pagina=200", 'data-gemeente="g10000"'),
        (f"/verzendingen/{run_id}?status=cancelled", 'data-gemeente="g9990"'),
        (f"/verzendingen/{run_id}/stand", 'data-gemeente="g1"'),
    ]:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            reply = visitor.get(path)
            timings.append(time.perf_counter() - started)
            assert reply.status == 200 and shows in reply.body, path
        assert statistics.median(timings) <= 0.5, (path, timings)
    assert visitor.get(f"/verzendingen/{run_id}").body.count("<tr data-gemeente=") == 50


def test_the_html_preview_comes_with_its_own_policy_that_runs_no_script(
    web: WebProcess, accounts: Accounts
) -> None:
    visitor = logged_in(web, accounts, "anna", Role.MEDEWERKER)

    html = visitor.get(f"/nieuw/{MAILING}/standaard/voorbeeld/soest/html")
    page = visitor.get(f"/nieuw/{MAILING}/standaard/voorbeeld/soest")

    policy = html.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert "script-src" not in policy  # falls back to default-src 'none'
    assert "frame-ancestors 'self'" in policy
    assert html.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Geachte heer Van Verzonnenberg," in html.body
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert '<iframe class="message-html" sandbox src=' in page.body
