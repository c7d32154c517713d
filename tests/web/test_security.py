"""The web page's defences, over real HTTP: headers, cookie flags, CSRF, roles, sessions."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from distributie.accounts import Accounts, Role
from tests.support.redis import TestRedis
from tests.support.web import PASSWORD, Http, WebProcess, add_account, start_web, web_env

SESSION_KEYS = "distributie:web:session:*"
PUBLIC_HOST = "distributie.example.nl"


def logged_in(web: WebProcess, accounts: Accounts, name: str, role: Role) -> Http:
    add_account(accounts, name, role)
    visitor = Http(web.url)
    assert visitor.log_in(name).status == 303
    return visitor


def test_pages_carry_the_security_headers(web: WebProcess, redis_url: str) -> None:
    reply = Http(web.url).get("/inloggen")

    policy = reply.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert reply.headers["Referrer-Policy"] == "same-origin"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_with_personal_data_are_not_stored_in_any_cache(
    web: WebProcess, accounts: Accounts
) -> None:
    visitor = logged_in(web, accounts, "anna", Role.BEHEERDER)

    assert visitor.get("/gebruikers").headers["Cache-Control"] == "no-store"
    assert visitor.get("/").headers["Cache-Control"] == "no-store"


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(
    web: WebProcess, redis_url: str
) -> None:
    (cookie,) = Http(web.url).get("/inloggen").set_cookies()

    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags
    assert cookie.startswith("distributie=")


def test_every_script_and_style_comes_from_distributie_itself(
    web: WebProcess, redis_url: str
) -> None:
    visitor = Http(web.url)
    page = visitor.get("/inloggen").body

    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, "no scripts or styles found"
    assert all(source.startswith(("/", "#")) for source in sources), sources
    for source in sources:
        if source.startswith("/static/"):
            assert visitor.get(source).status == 200, source


def test_a_post_without_a_csrf_token_is_403_and_changes_nothing(
    web: WebProcess, accounts: Accounts
) -> None:
    visitor = logged_in(web, accounts, "anna", Role.BEHEERDER)
    form = {"username": "bram", "role": "beheerder", "password": PASSWORD}

    reply = visitor.post("/gebruikers", form | {"password_repeat": PASSWORD})

    assert reply.status == 403
    assert "Formulier verlopen" in reply.body
    assert accounts.get("bram") is None


def test_a_post_with_another_sessions_csrf_token_is_403_and_changes_nothing(
    web: WebProcess, accounts: Accounts
) -> None:
    add_account(accounts, "bram", Role.LEZER)
    anna = logged_in(web, accounts, "anna", Role.BEHEERDER)
    foreign_token = Http(web.url).csrf_token("/inloggen")

    reply = anna.post("/gebruikers/bram/verwijderen", {"csrf_token": foreign_token})

    assert reply.status == 403
    assert accounts.get("bram") is not None


def test_a_login_without_a_csrf_token_is_403_and_logs_nobody_in(
    web: WebProcess, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.LEZER)
    visitor = Http(web.url)

    reply = visitor.post("/inloggen", {"username": "anna", "password": PASSWORD})

    assert reply.status == 403
    assert visitor.get("/").status == 303


def test_a_medewerker_removing_an_account_gets_403_and_nothing_changes(
    web: WebProcess, accounts: Accounts
) -> None:
    add_account(accounts, "bram", Role.LEZER)
    anna = logged_in(web, accounts, "anna", Role.MEDEWERKER)
    token = anna.csrf_token("/")

    reply = anna.post("/gebruikers/bram/verwijderen", {"csrf_token": token})

    assert reply.status == 403
    assert "Met de rol medewerker mag u dit niet doen" in reply.body
    assert accounts.get("bram") is not None


def test_a_lezer_adding_an_account_gets_403_and_nothing_changes(
    web: WebProcess, accounts: Accounts
) -> None:
    lezer = logged_in(web, accounts, "lotte", Role.LEZER)
    form = {"csrf_token": lezer.csrf_token("/"), "username": "nieuw", "role": "beheerder"}

    reply = lezer.post("/gebruikers", form | {"password": PASSWORD, "password_repeat": PASSWORD})

    assert reply.status == 403
    assert accounts.get("nieuw") is None


def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(
    web: WebProcess, redis_url: str
) -> None:
    reply = Http(web.url).get("/gebruikers")

    assert reply.status == 303
    assert reply.location == "/inloggen?next=/gebruikers"


def test_after_logging_in_only_a_path_on_this_site_is_followed(
    web: WebProcess, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.LEZER)
    visitor = Http(web.url)
    token = visitor.csrf_token("/inloggen")

    reply = visitor.post(
        "/inloggen?next=//evil.example/",
        {"csrf_token": token, "username": "anna", "password": PASSWORD},
    )

    assert reply.status == 303
    assert reply.location == "/"


def test_logging_in_gives_a_new_session_id(web: WebProcess, accounts: Accounts) -> None:
    add_account(accounts, "anna", Role.LEZER)
    visitor = Http(web.url)
    visitor.csrf_token("/inloggen")
    before = dict(visitor.cookies)

    visitor.log_in("anna")

    assert visitor.cookies["distributie"] != before["distributie"]
    planted = Http(web.url)
    planted.cookies = before
    assert planted.get("/").status == 303


def test_logout_ends_the_session_on_the_server(web: WebProcess, accounts: Accounts) -> None:
    visitor = logged_in(web, accounts, "anna", Role.LEZER)
    stolen = dict(visitor.cookies)
    assert len(accounts.client.keys(SESSION_KEYS)) == 1

    visitor.post("/uitloggen", {"csrf_token": visitor.csrf_token("/")})

    assert accounts.client.keys(SESSION_KEYS) == []
    replayed = Http(web.url)
    replayed.cookies = stolen
    assert replayed.get("/").status == 303


def test_the_session_id_is_not_stored_in_redis(web: WebProcess, accounts: Accounts) -> None:
    visitor = logged_in(web, accounts, "anna", Role.LEZER)

    (key,) = accounts.client.keys(SESSION_KEYS)

    assert visitor.cookies["distributie"].encode() not in key
    assert visitor.cookies["distributie"].encode() not in (accounts.client.get(key) or b"")


def test_removing_an_account_ends_its_sessions(web: WebProcess, accounts: Accounts) -> None:
    visitor = logged_in(web, accounts, "anna", Role.LEZER)

    accounts.remove("anna")

    assert visitor.get("/").status == 303


def test_a_new_password_ends_the_sessions_from_before(web: WebProcess, accounts: Accounts) -> None:
    visitor = logged_in(web, accounts, "anna", Role.LEZER)

    accounts.change_password("anna", "een heel ander wachtwoord")

    assert visitor.get("/").status == 303


@pytest.fixture(scope="module")
def short_sessions(
    redis_server: TestRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebProcess]:
    env = web_env(redis_server.url, web_session_hours=str(2 / 3600))
    process = start_web(env, tmp_path_factory.mktemp("web-short"))
    yield process
    process.stop()


def test_a_session_ends_after_web_session_hours(
    short_sessions: WebProcess, accounts: Accounts
) -> None:
    visitor = logged_in(short_sessions, accounts, "anna", Role.LEZER)
    assert visitor.get("/").status == 200

    time.sleep(3)

    assert visitor.get("/").status == 303
    assert accounts.client.keys(SESSION_KEYS) == []


@pytest.fixture(scope="module")
def behind_proxy(
    redis_server: TestRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebProcess]:
    env = web_env(redis_server.url, web_base_url="https://distributie.example.nl")
    process = start_web(env, tmp_path_factory.mktemp("web-proxy"))
    yield process
    process.stop()


def test_the_session_cookie_is_secure_with_an_https_base_url(
    behind_proxy: WebProcess, redis_url: str
) -> None:
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.1"}
    (cookie,) = Http(behind_proxy.url, proxy).get("/inloggen").set_cookies()

    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax"} <= flags
    assert cookie.startswith("__Host-distributie=")


def test_behind_the_proxy_failures_count_per_client_address(
    behind_proxy: WebProcess, accounts: Accounts
) -> None:
    add_account(accounts, "anna", Role.LEZER)

    def attempt(address: str, password: str) -> int:
        visitor = Http(
            behind_proxy.url,
            {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": address},
        )
        token = visitor.csrf_token("/inloggen")
        form = {"csrf_token": token, "username": "nobody", "password": password}
        return visitor.post("/inloggen", form, {"Referer": f"https://{PUBLIC_HOST}/"}).status

    statuses = [attempt("192.0.2.7", "wrong password!") for _ in range(6)]

    assert statuses == [200, 200, 200, 200, 200, 429]
    assert attempt("192.0.2.8", "wrong password!") == 200


def test_a_path_outside_the_site_is_a_dutch_404(web: WebProcess, redis_url: str) -> None:
    reply = Http(web.url).get("/bestaat-niet")

    assert reply.status == 404
    assert "Pagina niet gevonden" in reply.body
