"""A real OAuth2 token endpoint for tests (client-credentials grant, HTTPS with a trustme
certificate, or plain http on loopback) that issues short-lived tokens and can misbehave."""

from __future__ import annotations

import json
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import trustme

__all__ = [
    "OAUTH_CLIENT_ID",
    "OAUTH_CLIENT_SECRET",
    "OAUTH_SCOPE",
    "OAUTH_TENANT",
    "TokenEndpoint",
    "TokenRequest",
    "oauth_endpoint",
    "oauth_http_endpoint",
]

LOOPBACK = "127.0.0.1"
OAUTH_TENANT = "veiligheidscollege.onmicrosoft.com"
OAUTH_CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
OAUTH_CLIENT_SECRET = "Kx8Q~tEst-cl1ent-S3cret.value_0123456789"
OAUTH_SCOPE = "https://outlook.office365.com/.default"
# Microsoft's real tokens are JWTs of 1.5-2.5 kB; a long one tests the AUTH line length too.
_TOKEN_BYTES = 1200
# As Microsoft answers: a first line that says what is wrong, then trace lines.
_TRACE = "\r\nTrace ID: 0f3c\r\nCorrelation ID: 9a1e\r\nTimestamp: 2026-12-01 10:00:00Z"


@dataclass(frozen=True)
class TokenRequest:
    """One request the endpoint received (the secret itself is not kept)."""

    path: str
    grant_type: str | None
    client_id: str | None
    scope: str | None
    secret_ok: bool
    status: int
    at: float  # time.monotonic()
    agent: str = ""  # the User-Agent header: distributie's names the process that asked

    @property
    def pid(self) -> int | None:
        """The process id distributie puts in its User-Agent ("distributie/1.0 (pid 123)")."""
        found = re.search(r"\(pid (\d+)\)", self.agent)
        return int(found.group(1)) if found else None


class TokenEndpoint:
    """A token endpoint in a thread of this process. Thread-safe.

    Answers a correct client-credentials request with a new random bearer token valid for
    `lifetime` seconds (changeable at any time); remembers every token and when it expires.
    A wrong client id or secret gets 401 invalid_client, as Microsoft answers. Scripted
    faults: `refuse_client()` (invalid_client or another OAuth error, every time until
    `clear()`), `fail(status, times)` (5xx or any status with a non-JSON body).
    """

    def __init__(
        self,
        *,
        ca: trustme.CA | None = None,
        ca_file: Path | None = None,
        lifetime: float = 20.0,
        tenant: str = OAUTH_TENANT,
        client_id: str = OAUTH_CLIENT_ID,
        client_secret: str = OAUTH_CLIENT_SECRET,
        scope: str = OAUTH_SCOPE,
    ) -> None:
        self.tls = ca is not None
        self.ca_file = ca_file
        self.lifetime = lifetime
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> time.monotonic() it expires
        self._requests: list[TokenRequest] = []
        self._refusal: tuple[int, str, str] | None = None
        self._failures: list[int] = []
        self._server = _Server((LOOPBACK, 0), _Handler, self, _tls_context(ca))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> TokenEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> TokenEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"TokenEndpoint({self.url_template})"

    # -- where -----------------------------------------------------------------------------

    @property
    def url_template(self) -> str:
        """For DISTRIBUTIE_OAUTH_TOKEN_URL: the Microsoft form, with {tenant} left in."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{LOOPBACK}:{self.port}/{{tenant}}/oauth2/v2.0/token"

    @property
    def token_url(self) -> str:
        return self.url_template.replace("{tenant}", self.tenant)

    def settings_values(self) -> dict[str, Any]:
        """Settings fields (as Settings(**values) takes them) for a client of this endpoint."""
        return {
            "oauth_tenant": self.tenant,
            "oauth_client_id": self.client_id,
            "oauth_client_secret": self.client_secret,
            "oauth_token_url": self.url_template,
            "oauth_scope": self.scope,
            "oauth_ca_file": self.ca_file,
        }

    def environ(self) -> dict[str, str]:
        """The same as DISTRIBUTIE_OAUTH_* variables, for clients in other processes."""
        return {
            f"DISTRIBUTIE_{name.upper()}": str(value)
            for name, value in self.settings_values().items()
            if value is not None
        }

    # -- scripting -------------------------------------------------------------------------

    def refuse_client(
        self, error: str = "invalid_client", status: int = 401, description: str | None = None
    ) -> TokenEndpoint:
        """Answer every request with this OAuth error until clear()."""
        text = description or {
            "invalid_client": "AADSTS7000215: Invalid client secret provided.",
            "unauthorized_client": "AADSTS700016: Application not found in the directory.",
        }.get(error, f"AADSTS90000: {error}.")
        with self._lock:
            self._refusal = (status, error, text + _TRACE)
        return self

    def fail(self, status: int = 503, times: int = 1) -> TokenEndpoint:
        """Answer the next `times` requests with `status` and an HTML body."""
        with self._lock:
            self._failures.extend([status] * times)
        return self

    def clear(self) -> None:
        with self._lock:
            self._refusal = None
            self._failures.clear()

    def expire_all(self) -> None:
        """Every token issued so far stops being current now (as a revocation would)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = {token: min(end, now) for token, end in self._tokens.items()}

    # -- what happened ---------------------------------------------------------------------

    @property
    def requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    def requests_by_process(self) -> dict[int | None, list[TokenRequest]]:
        """The requests grouped by the process that made them (None: no pid in User-Agent)."""
        grouped: dict[int | None, list[TokenRequest]] = {}
        for request in self.requests:
            grouped.setdefault(request.pid, []).append(request)
        return grouped

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def issued(self) -> list[str]:
        """Every token issued, oldest first."""
        with self._lock:
            return list(self._tokens)

    def is_current(self, token: str) -> bool:
        """Issued here and not yet expired."""
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and time.monotonic() < expires

    # -- called from the server threads ---------------------------------------------------

    def _answer(self, path: str, form: dict[str, str], agent: str = "") -> tuple[int, str, bytes]:
        secret_ok = secrets.compare_digest(
            form.get("client_secret", "").encode(), self.client_secret.encode()
        )
        with self._lock:
            status, content_type, body = self._decide(path, form, secret_ok)
            self._requests.append(
                TokenRequest(
                    path,
                    form.get("grant_type"),
                    form.get("client_id"),
                    form.get("scope"),
                    secret_ok,
                    status,
                    time.monotonic(),
                    agent,
                )
            )
        return status, content_type, body

    def _decide(self, path: str, form: dict[str, str], secret_ok: bool) -> tuple[int, str, bytes]:
        if self._failures:
            status = self._failures.pop(0)
            return status, "text/html", f"<html><body>{status} from the test</body></html>".encode()
        if self._refusal is not None:
            status, error, text = self._refusal
            return _error(status, error, text)
        if path != f"/{self.tenant}/oauth2/v2.0/token":
            return _error(400, "invalid_request", f"AADSTS90002: Tenant not found.{_TRACE}")
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant.")
        if form.get("client_id") != self.client_id or not secret_ok:
            return _error(401, "invalid_client", f"AADSTS7000215: Invalid client secret.{_TRACE}")
        if form.get("scope") != self.scope:
            return _error(400, "invalid_scope", f"AADSTS70011: The scope is not valid.{_TRACE}")
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        lifetime = self.lifetime
        self._tokens[token] = time.monotonic() + lifetime
        seconds = int(lifetime) if lifetime == int(lifetime) else lifetime  # Microsoft: whole
        answer = {
            "token_type": "Bearer",
            "expires_in": seconds,
            "ext_expires_in": seconds,
            "access_token": token,
        }
        return 200, "application/json", json.dumps(answer).encode()


def _error(status: int, error: str, description: str) -> tuple[int, str, bytes]:
    body = json.dumps({"error": error, "error_description": description, "error_codes": [1]})
    return status, "application/json", body.encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        endpoint: TokenEndpoint,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.endpoint = endpoint
        self.tls = tls
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            # The handshake happens in the handler's thread, so a stuck client blocks no one.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        form = {name: values[0] for name, values in parse_qs(raw).items()}
        agent = self.headers.get("User-Agent", "")
        status, content_type, body = self.server.endpoint._answer(self.path, form, agent)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not every request


def _tls_context(ca: trustme.CA | None) -> ssl.SSLContext | None:
    if ca is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOOPBACK, "localhost").configure_cert(context)
    return context


def free_port() -> int:
    """A loopback port nobody listens on (for an unreachable endpoint)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


# -- pytest fixtures -----------------------------------------------------------------------


@pytest.fixture
def oauth_endpoint(smtp_ca: trustme.CA, smtp_ca_file: Path) -> Iterator[TokenEndpoint]:
    """An HTTPS token endpoint (certificate from smtp_ca) issuing tokens valid 20 s."""
    with TokenEndpoint(ca=smtp_ca, ca_file=smtp_ca_file) as endpoint:
        yield endpoint


@pytest.fixture
def oauth_http_endpoint() -> Iterator[TokenEndpoint]:
    """The same over plain http on loopback."""
    with TokenEndpoint() as endpoint:
        yield endpoint
