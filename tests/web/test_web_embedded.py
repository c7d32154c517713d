"""`distributie web` with the embedded default: it runs the private Redis and a worker for as
long as it serves, stops both on SIGTERM with nothing left running, and commands run in the same
folder meanwhile use its Redis, so the page and the commands share one ledger."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from distributie.runtime.processes import pid_alive
from tests.support.web import BIN, PASSWORD, Http, WebProcess, start_web, web_env
from tests.support.workers import children_of

MAILING = "veiligheidsstrategie-2019"


@pytest.fixture
def embedded_web(tmp_path: Path) -> Iterator[tuple[WebProcess, dict[str, str]]]:
    env = web_env(None, data_dir=str(tmp_path / "data"))
    web = start_web(env, tmp_path)
    yield web, env
    web.stop()


def descendants(pid: int) -> list[int]:
    found = []
    for child in children_of(pid):
        found += [child, *descendants(child)]
    return found


def wait_for(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def cli(env: dict[str, str], cwd: Path, *args: str, stdin: str = "") -> str:
    result = subprocess.run(
        [str(BIN / "distributie"), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_web_runs_redis_and_a_worker_and_sigterm_stops_both_with_nothing_left(
    embedded_web: tuple[WebProcess, dict[str, str]], tmp_path: Path
) -> None:
    web, _ = embedded_web
    server_pid = json.loads((tmp_path / "data" / "redis" / "server.json").read_text())["server_pid"]
    # The worker and its pool: the processes of web that are not its Redis.
    wait_for(lambda: len(descendants(web.process.pid)) >= 4)
    started = descendants(web.process.pid)
    assert server_pid in started
    workers = [pid for pid in started if pid != server_pid]
    assert any(b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in workers)

    assert web.stop() == 0

    wait_for(lambda: not any(pid_alive(pid) for pid in started))
    assert "distributie web stopped." in web.output()
    assert not (tmp_path / "data" / "redis" / "server.json").exists()


def test_commands_in_the_same_folder_use_the_pages_redis_and_share_its_ledger(
    embedded_web: tuple[WebProcess, dict[str, str]], tmp_path: Path
) -> None:
    web, env = embedded_web
    state = tmp_path / "data" / "redis" / "server.json"
    server_pid = json.loads(state.read_text())["server_pid"]
    cli(env, tmp_path, "users", "add", "anna", "--role", "medewerker", "--password-stdin",
        stdin=PASSWORD)  # fmt: skip
    visitor = Http(web.url)
    assert visitor.log_in("anna").status == 303

    from_cli = json.loads(cli(env, tmp_path, "send", "--yes", "--json", "--by", "kees"))["run"]
    confirm = visitor.get(f"/nieuw/{MAILING}/standaard/starten").body
    started = visitor.post(
        f"/nieuw/{MAILING}/standaard/starten",
        {
            "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', confirm)[-1],
            "verzoek": re.findall(r'name="verzoek" value="([^"]+)"', confirm)[0],
        },
    )
    from_page = started.location.rsplit("/", 1)[1]
    wait_for(
        lambda: (
            json.loads(cli(env, tmp_path, "status", from_page, "--json"))["counts"]["sent"] == 39
        ),
        timeout=60,
    )

    assert json.loads(state.read_text())["server_pid"] == server_pid  # one Redis all along
    assert pid_alive(server_pid)
    listed = {r["run"]: r for r in json.loads(cli(env, tmp_path, "runs", "--json"))["runs"]}
    assert listed[from_page]["created_by"] == "anna"
    assert listed[from_cli]["created_by"] == "kees"
    overview = visitor.get("/").body
    assert f'data-run="{from_cli}"' in overview and f'data-run="{from_page}"' in overview
    assert visitor.get(f"/verzendingen/{from_cli}").body.count('data-state="sent"') == 39
    assert os.path.exists(tmp_path / "outbox" / from_page / "soest.eml")
