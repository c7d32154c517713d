"""`distributie web` as a process: start-up, the first-use link it prints, the loopback rule,
and stopping with nothing left running."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from distributie.accounts import Accounts, Role
from distributie.errors import ConfigError
from distributie.settings import load_settings
from distributie.web.server import check_host
from tests.support.web import BIN, Http, add_account, start_web, web_env


def test_web_prints_a_first_use_link_that_opens_the_first_account_page(
    redis_url: str, tmp_path: Path
) -> None:
    web = start_web(web_env(redis_url), tmp_path)
    try:
        link = web.first_use_link()
        assert link is not None, web.output()
        assert link.startswith(web.url + "/eerste-account/")
        page = Http(web.url).get(link.removeprefix(web.url))
    finally:
        web.stop()

    assert page.status == 200
    assert "<h1>Eerste account aanmaken</h1>" in page.body


def test_web_prints_no_link_once_an_account_exists(
    redis_url: str, accounts: Accounts, tmp_path: Path
) -> None:
    add_account(accounts, "anna", Role.BEHEERDER)

    web = start_web(web_env(redis_url), tmp_path)
    web.stop()

    assert web.first_use_link() is None
    assert "listening on http://127.0.0.1:" in web.output()


def test_the_link_uses_the_base_url_behind_a_proxy(redis_url: str, tmp_path: Path) -> None:
    web = start_web(web_env(redis_url, web_base_url="https://distributie.example.nl/"), tmp_path)
    web.stop()

    link = web.first_use_link()
    assert link is not None and link.startswith("https://distributie.example.nl/eerste-account/")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "distributie.example.nl"])
def test_a_non_loopback_host_is_refused_without_a_base_url(host: str, tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "distributie"), "web", "--host", host],
        env=web_env(None),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert f"--host {host} would open the web page to the network" in result.stderr
    assert "DISTRIBUTIE_WEB_BASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".distributie").exists()  # refused before starting any Redis
    assert time.monotonic() - started < 30


def test_any_host_is_accepted_with_a_base_url() -> None:
    check_host(load_settings(web_base_url="https://distributie.example.nl"), "0.0.0.0")


def test_loopback_hosts_need_no_base_url() -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        check_host(load_settings(), host)
    with pytest.raises(ConfigError):
        check_host(load_settings(), "0.0.0.0")


def test_sigterm_stops_web_and_its_embedded_redis(tmp_path: Path) -> None:
    web = start_web(web_env(None, data_dir=str(tmp_path / "data")), tmp_path)
    state = json.loads((tmp_path / "data" / "redis" / "server.json").read_text())
    server_pid = int(state["server_pid"])
    assert Http(web.url).get("/inloggen").status == 200

    code = web.stop()

    assert code == 0
    deadline = time.monotonic() + 10
    while _alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose but its exit status.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")
