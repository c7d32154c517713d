"""The web page for tests: `distributie web` as a real process on a free loopback port, and a
small HTTP client on the standard library (cookies, no redirects followed) to talk to it."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from distributie.accounts import Account, Accounts, Role
from distributie.ledger import connect
from tests.support.redis import TestRedis

__all__ = [
    "PASSWORD",
    "Http",
    "Reply",
    "WebProcess",
    "accounts",
    "add_account",
    "start_web",
    "web",
    "web_env",
]

BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"
_READY = re.compile(r"listening on (http://\S+?)/? ")


@dataclass
class WebProcess:
    """A running `distributie web`: its address, and every line it printed so far."""

    process: subprocess.Popen[str]
    cwd: Path
    url: str = ""
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "\n".join(self.lines)

    def first_use_link(self) -> str | None:
        found = re.search(r"(\S+/eerste-account/\S+)", self.output())
        return found.group(1) if found else None

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def web_env(redis_url: str | None, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    if redis_url is not None:
        env["DISTRIBUTIE_REDIS_URL"] = redis_url
    env.update({f"DISTRIBUTIE_{k.upper()}": v for k, v in settings.items()})
    return env


def start_web(env: Mapping[str, str], cwd: Path, *args: str, timeout: float = 30) -> WebProcess:
    """Start `distributie web --port 0` and wait until it says where it listens."""
    process = subprocess.Popen(
        [str(BIN / "distributie"), "web", "--port", "0", *args],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    web = WebProcess(process, cwd)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            web.lines.append(line.rstrip("\n"))
            found = _READY.search(line)
            if found:
                web.url = found.group(1)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            web.stop()
            raise AssertionError("distributie web did not start:\n" + web.output())
    if not web.url:
        raise AssertionError("distributie web stopped:\n" + web.output())
    # The first-use link is printed right after the address.
    time.sleep(0.2)
    return web


@pytest.fixture(scope="module")
def web(redis_server: TestRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """One `distributie web` on the suite's Redis for a test module (tests flush Redis)."""
    process = start_web(web_env(redis_server.url), tmp_path_factory.mktemp("web"))
    yield process
    process.stop()


@pytest.fixture
def accounts(redis_url: str) -> Iterator[Accounts]:
    client = connect(redis_url)
    yield Accounts(client)
    client.close()


def add_account(accounts: Accounts, name: str, role: Role = Role.BEHEERDER) -> Account:
    return accounts.add(name, role, PASSWORD)


@dataclass
class Reply:
    status: int
    headers: Message
    data: bytes

    @property
    def body(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def set_cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []


class Http:
    """One visitor: keeps cookies like a browser, never follows redirects."""

    def __init__(self, base_url: str, headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.headers = dict(headers or {})
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        sent = dict(self.headers) | dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urlencode(form).encode("ascii")
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            reply = Reply(response.status, response.msg, response.read())
        finally:
            connection.close()
        for header in reply.set_cookies():
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return reply

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def post(
        self, path: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> Reply:
        return self.request("POST", path, form, headers)

    def upload(
        self, path: str, form: Mapping[str, str], field: str, filename: str, data: bytes
    ) -> Reply:
        """A multipart/form-data POST, as a browser sends a form with a file."""
        boundary = "----distributie-test-" + uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, value in form.items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        content_type = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return self.request("POST", path, headers=content_type, body=body)

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.body)
        assert found, f"no CSRF token on {path} ({page.status})"
        return found.group(1)

    def log_in(self, name: str, password: str = PASSWORD) -> Reply:
        token = self.csrf_token("/inloggen")
        return self.post("/inloggen", {"csrf_token": token, "username": name, "password": password})
