"""`distributie users add|list|passwd|remove`, run as the installed command on a real Redis."""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import termios
import time
from pathlib import Path

from distributie.accounts import Accounts, LoginThrottle, Role, verify_login
from distributie.accounts.keys import account_key
from tests.support.web import BIN, PASSWORD, add_account, web_env

NEW_PASSWORD = "een heel ander wachtwoord"


def users(
    redis_url: str, cwd: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "distributie"), "users", *args],
        env=web_env(redis_url),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_with_password_stdin_stores_an_argon2id_hash(
    redis_url: str, accounts: Accounts, tmp_path: Path
) -> None:
    result = users(
        redis_url,
        tmp_path,
        "add",
        "Anna",
        "--role",
        "beheerder",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Added account anna (role beheerder)."
    stored = accounts.client.hget(account_key("anna"), "password_hash")
    assert stored is not None and stored.startswith(b"$argon2id$")
    assert verify_login(accounts, LoginThrottle(accounts.client), "anna", PASSWORD, "127.0.0.1")


def test_add_asks_for_the_password_twice_on_a_terminal(
    redis_url: str, accounts: Accounts, tmp_path: Path
) -> None:
    main, terminal = os.openpty()
    process = subprocess.Popen(
        [str(BIN / "distributie"), "users", "add", "bram", "--email", "bram@regio.example"],
        env=web_env(redis_url),
        cwd=tmp_path,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
        preexec_fn=_own_terminal,  # so getpass's /dev/tty is this pseudo-terminal
    )
    os.close(terminal)
    # getpass writes the last space of each prompt once echo is off and it reads.
    screen = _answer(main, [(b"Password: ", PASSWORD), (b"Repeat for confirmation: ", PASSWORD)])
    stdout, _ = process.communicate(timeout=60)
    os.close(main)

    assert process.returncode == 0, screen
    assert "Added account bram (role medewerker)." in stdout
    assert PASSWORD not in screen + stdout  # not echoed
    account = accounts.get("bram")
    assert account is not None and account.email == "bram@regio.example"


def _own_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _answer(main: int, prompts: list[tuple[bytes, str]]) -> str:
    screen = b""
    seen = b""
    deadline = time.monotonic() + 30
    for prompt, answer in prompts:
        while prompt not in seen:
            assert time.monotonic() < deadline, f"no prompt {prompt!r}: {screen!r}"
            if select.select([main], [], [], 0.5)[0]:
                chunk = os.read(main, 1024)
                seen += chunk
                screen += chunk
        os.write(main, answer.encode() + b"\n")
        seen = seen.split(prompt, 1)[1]
    return screen.decode(errors="replace")


def test_add_without_a_terminal_or_password_stdin_is_refused(
    redis_url: str, accounts: Accounts, tmp_path: Path
) -> None:
    result = users(redis_url, tmp_path, "add", "anna")

    assert result.returncode == 2
    assert "use --password-stdin" in result.stderr
    assert accounts.count() == 0


def test_add_with_an_unknown_role_is_refused(
    redis_url: str, accounts: Accounts, tmp_path: Path
) -> None:
    result = users(
        redis_url, tmp_path, "add", "anna", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )

    assert result.returncode == 2
    assert "'admin' is not a role; the roles are lezer, medewerker, beheerder" in result.stderr
    assert accounts.count() == 0


def test_add_with_a_short_password_is_refused(
    redis_url: str, accounts: Accounts, tmp_path: Path
) -> None:
    result = users(redis_url, tmp_path, "add", "anna", "--password-stdin", stdin="kort\n")

    assert result.returncode == 2
    assert "at least 12 characters" in result.stderr
    assert "kort" not in result.stderr
    assert accounts.count() == 0


def test_list_json_shows_every_account_and_no_password(
    redis_url: str, accounts: Accounts, tmp_path: Path
) -> None:
    add_account(accounts, "anna", Role.BEHEERDER)
    accounts.add("bram", Role.LEZER, PASSWORD, "bram@regio.example")

    result = users(redis_url, tmp_path, "list", "--json")

    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["accounts"]
    assert [(a["name"], a["role"], a["email"]) for a in listed] == [
        ("anna", "beheerder", None),
        ("bram", "lezer", "bram@regio.example"),
    ]
    assert set(listed[0]) == {"name", "role", "email", "created_at", "changed_at"}
    assert "argon2" not in result.stdout


def test_list_shows_a_table(redis_url: str, accounts: Accounts, tmp_path: Path) -> None:
    add_account(accounts, "anna", Role.BEHEERDER)

    result = users(redis_url, tmp_path, "list")

    assert result.returncode == 0
    assert "anna" in result.stdout and "beheerder" in result.stdout


def test_passwd_changes_the_password(redis_url: str, accounts: Accounts, tmp_path: Path) -> None:
    add_account(accounts, "anna", Role.LEZER)

    result = users(redis_url, tmp_path, "passwd", "anna", "--password-stdin", stdin=NEW_PASSWORD)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Changed the password of anna."
    throttle = LoginThrottle(accounts.client)
    assert verify_login(accounts, throttle, "anna", NEW_PASSWORD, "127.0.0.1").name == "anna"


def test_passwd_of_an_unknown_account_is_refused(redis_url: str, tmp_path: Path) -> None:
    result = users(redis_url, tmp_path, "passwd", "niemand", "--password-stdin", stdin=PASSWORD)

    assert result.returncode == 2
    assert "there is no account 'niemand'" in result.stderr


def test_remove_removes_the_account(redis_url: str, accounts: Accounts, tmp_path: Path) -> None:
    add_account(accounts, "anna", Role.LEZER)

    result = users(redis_url, tmp_path, "remove", "anna")

    assert result.returncode == 0
    assert result.stdout.strip() == "Removed account anna."
    assert accounts.count() == 0


def test_remove_of_an_unknown_account_is_refused(redis_url: str, tmp_path: Path) -> None:
    result = users(redis_url, tmp_path, "remove", "niemand")

    assert result.returncode == 2
    assert "there is no account 'niemand'" in result.stderr


def test_no_password_appears_in_any_output(redis_url: str, tmp_path: Path) -> None:
    outputs = [
        users(redis_url, tmp_path, "add", "anna", "--password-stdin", stdin=PASSWORD),
        users(redis_url, tmp_path, "add", "anna", "--password-stdin", stdin=PASSWORD),
        users(redis_url, tmp_path, "passwd", "anna", "--password-stdin", stdin=NEW_PASSWORD),
        users(redis_url, tmp_path, "list", "--json"),
        users(redis_url, tmp_path, "list"),
    ]

    for result in outputs:
        assert PASSWORD not in result.stdout + result.stderr
        assert NEW_PASSWORD not in result.stdout + result.stderr
