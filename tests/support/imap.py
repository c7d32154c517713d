"""Real IMAP servers for tests: pymap (pure Python, in-memory) on a free loopback port in a thread
of this process, plaintext, STARTTLS or implicit TLS, with a password login and optionally
XOAUTH2 that accepts only the current token. Messages go in and out through a real client."""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from imapclient import IMAPClient
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config, Identity, Login
from pymap.backend.dict.filter import FilterSet
from pymap.backend.dict.mailbox import MailboxSet
from pymap.concurrent import Subsystem
from pymap.exceptions import InvalidAuth
from pymap.imap import IMAPServer
from pymap.parsing.commands import Commands
from pymap.user import Passwords, UserMetadata
from pysasl import SASLAuth
from pysasl.creds.external import ExternalCredentials, ExternalVerificationRequired
from pysasl.creds.server import ServerCredentials
from pysasl.hashing import BuiltinHash
from pysasl.mechanism.oauth import OAuth2Mechanism

from distributie.settings import Settings

__all__ = [
    "StoredMessage",
    "TestIMAPServer",
    "imap_ca",
    "imap_ca_file",
    "imap_server",
    "imap_starttls_server",
    "imap_tls_server",
]

LOOPBACK = "127.0.0.1"
USERNAME = "bounces@veiligheidscollege-mn.example"
PASSWORD = "b0unce-Pa55word"
Security = Literal["none", "starttls", "tls"]
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")


@dataclass(frozen=True)
class StoredMessage:
    """One message in a folder, as a client sees it."""

    uid: int
    raw: bytes
    flags: frozenset[str]


class _MailboxSet(MailboxSet):
    """The dict backend's folders with another hierarchy delimiter (its own is "/")."""

    def __init__(self, delimiter: str) -> None:
        super().__init__()
        self._delimiter = delimiter

    @property
    def delimiter(self) -> str:
        return self._delimiter


class _Config(Config):
    """pymap's dict backend, told which capabilities and commands to leave out and whether to
    offer XOAUTH2."""

    def __init__(self, server: TestIMAPServer, **kwargs: Any) -> None:
        super().__init__(argparse.Namespace(passlib_cfg=None, proxy_protocol=None), **kwargs)
        self._server = server

    @property
    def tls_auth(self) -> SASLAuth:
        mechanisms = list(SASLAuth.defaults().server_mechanisms)
        if self._server.xoauth2:
            mechanisms.append(OAuth2Mechanism())
        return SASLAuth(mechanisms)

    @property
    def login_capability(self) -> list[bytes]:
        left_out = {c.encode() for c in self._server.without}
        return [c for c in super().login_capability if c not in left_out]

    @property
    def commands(self) -> Commands:
        commands = Commands()
        if "MOVE" in self._server.without:
            commands.deregister(b"MOVE")
            commands.deregister(b"UID MOVE")
        if "UIDPLUS" in self._server.without:
            commands.deregister(b"UID EXPUNGE")
        return commands


class _Login(Login):
    """Password logins as pymap does them; XOAUTH2 accepted only with the server's current
    access token for its one user."""

    def __init__(self, config: _Config, server: TestIMAPServer) -> None:
        super().__init__(config)
        self._server = server

    async def authenticate(self, credentials: ServerCredentials) -> Identity:
        if not isinstance(credentials, ExternalCredentials):
            try:
                identity = await super().authenticate(credentials)
            except InvalidAuth:
                raise self._refusal(getattr(credentials, "_secret", "")) from None
            self._server._logged_in("password", credentials.authcid)
            return identity
        try:
            credentials.verify(None)
        except ExternalVerificationRequired as exc:
            token = exc.token
        if credentials.authzid != self._server.username or not self._server.accepts(token):
            raise self._refusal(token or "")
        self._server._logged_in("xoauth2", credentials.authzid)
        return Identity(credentials.authzid, self, None, frozenset())

    def _refusal(self, secret: str) -> InvalidAuth:
        if self._server.echo_secret_on_failure:
            # A careless server quoting the client's input back: the client must redact it.
            return InvalidAuth(f"Invalid credentials ({secret!r} is wrong).")
        return InvalidAuth()


def _server_tls_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOOPBACK, "localhost").configure_cert(context)
    return context


class TestIMAPServer:
    """pymap on loopback. `security`: "none", "starttls" (offered, as on port 143) or "tls"
    (implicit, as on 993). `delimiter`: the hierarchy delimiter its LIST reports. `without`:
    capabilities to leave out ("MOVE", "UIDPLUS"; their commands are refused too). With
    `xoauth2`, AUTHENTICATE XOAUTH2 succeeds only with `access_token` (settable any time).
    With `echo_secret_on_failure` a refused login's reply quotes the password or token.
    `token_check` replaces the comparison with `access_token` (e.g. a real token endpoint's
    `is_current`)."""

    __test__ = False  # not a test class, despite the name

    def __init__(
        self,
        *,
        security: Security = "none",
        ca: trustme.CA | None = None,
        ca_file: Path | None = None,
        username: str = USERNAME,
        password: str = PASSWORD,
        delimiter: str = "/",
        without: Iterable[str] = (),
        xoauth2: bool = False,
        access_token: str | None = None,
        echo_secret_on_failure: bool = False,
        token_check: Callable[[str], bool] | None = None,
    ) -> None:
        if security != "none" and ca is None:
            raise ValueError("a TLS server needs a trustme CA")
        self.security = security
        self.host = LOOPBACK
        self.port = 0
        self.ca_file = ca_file  # what a client should trust
        self.username = username
        self.password = password
        self.delimiter = delimiter
        self.without = frozenset(c.upper() for c in without)
        self.xoauth2 = xoauth2
        self.access_token = access_token
        self.echo_secret_on_failure = echo_secret_on_failure
        self.token_check = token_check
        self.logins: list[tuple[str, str]] = []  # (mechanism, user) of each successful login
        self._tls = _server_tls_context(ca) if ca is not None else None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> TestIMAPServer:
        self._thread = threading.Thread(target=self._run, name="test-imap-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise TimeoutError("the test IMAP server did not start within 15 s")
        if self._failure is not None:
            raise RuntimeError("the test IMAP server failed to start") from self._failure
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(15)

    def __enter__(self) -> TestIMAPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"TestIMAPServer({self.security}, {self.host}:{self.port})"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(), which raises it in the test
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        config = _Config(
            self,
            host=LOOPBACK,
            port=0,
            demo_data=False,
            demo_user=self.username,
            demo_password=self.password,
            ssl_context=self._tls,
            tls_enabled=self.security == "starttls",
            invalid_user_sleep=0.0,
            reject_dnsbl=False,
            # The default hash takes 500,000 rounds, a third of a second per login.
            hash_context=BuiltinHash(rounds=1000),
            cpu_subsystem=Subsystem.for_asyncio(),
        )
        config.apply_context()
        login = _Login(config, self)
        hashed = await Passwords(config).hash_password(self.password)
        await login.demo_user_identity.set(UserMetadata(config, self.username, password=hashed))
        if self.delimiter != "/":
            config.set_cache[self.username] = (_MailboxSet(self.delimiter), FilterSet())
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(login, config)
        )
        listener = await asyncio.start_server(
            callback, LOOPBACK, 0, ssl=self._tls if self.security == "tls" else None
        )
        self.port = listener.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._ready.set()
        async with listener:
            await self._stopping.wait()

    def accepts(self, token: str | None) -> bool:
        if token is None:
            return False
        if self.token_check is not None:
            return self.token_check(token)
        return token == self.access_token

    def _logged_in(self, mechanism: str, user: str) -> None:
        with self._lock:
            self.logins.append((mechanism, user))

    # -- a real client, for putting messages in and looking at them -----------------------

    @contextmanager
    def client(self) -> Iterator[Any]:
        """A logged-in imapclient.IMAPClient (password login, TLS as the server wants)."""
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        client = IMAPClient(
            self.host,
            port=self.port,
            ssl=self.security == "tls",
            ssl_context=context,
            timeout=10,
        )
        try:
            if self.security == "starttls":
                client.starttls(context)
            # APPEND waits for the server's "+" before the literal: without this, Nagle and
            # delayed ACKs cost 40 ms per message.
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.login(self.username, self.password)
            yield client
        finally:
            client.logout()

    def append(self, folder: str, raw: bytes, flags: Iterable[str] = ()) -> int:
        """Put a message in `folder` (created if missing); its UID there."""
        return self.append_all(folder, [raw], flags)[0]

    def append_all(
        self, folder: str, messages: Iterable[bytes], flags: Iterable[str] = ()
    ) -> list[int]:
        """Put messages in `folder` in order, through one connection; their UIDs."""
        uids = []
        with self.client() as client:
            if folder.upper() != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                response = client.append(folder, raw, flags=tuple(flags))
                match = _APPENDUID.search(response)
                if match is None:
                    raise AssertionError(f"APPEND gave no APPENDUID: {response!r}")
                uids.append(int(match.group(1)))
        return uids

    def folders(self) -> list[str]:
        """Every folder's full name, as LIST shows them."""
        with self.client() as client:
            return sorted(name for _flags, _delimiter, name in client.list_folders())

    def messages(self, folder: str) -> list[StoredMessage]:
        """Every message in `folder`, \\Deleted ones included, by UID."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
        return [
            StoredMessage(
                uid,
                data[b"BODY[]"],
                frozenset(f.decode() if isinstance(f, bytes) else str(f) for f in data[b"FLAGS"]),
            )
            for uid, data in sorted(fetched.items())
        ]

    # -- client configuration --------------------------------------------------------------

    def settings(self, **overrides: Any) -> Settings:
        """Settings for distributie's bounce mailbox on this server; no .env file is read."""
        values: dict[str, Any] = {
            "bounce_imap_host": self.host,
            "bounce_imap_port": self.port,
            "bounce_imap_security": self.security,
            "bounce_imap_username": self.username,
            "bounce_imap_password": self.password,
            "bounce_imap_ca_file": self.ca_file,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def environ(self) -> dict[str, str]:
        """DISTRIBUTIE_BOUNCE_IMAP_* variables for clients in other processes (commands,
        workers)."""
        env = {
            "DISTRIBUTIE_BOUNCE_IMAP_HOST": self.host,
            "DISTRIBUTIE_BOUNCE_IMAP_PORT": str(self.port),
            "DISTRIBUTIE_BOUNCE_IMAP_SECURITY": self.security,
            "DISTRIBUTIE_BOUNCE_IMAP_USERNAME": self.username,
            "DISTRIBUTIE_BOUNCE_IMAP_PASSWORD": self.password,
        }
        if self.ca_file is not None:
            env["DISTRIBUTIE_BOUNCE_IMAP_CA_FILE"] = str(self.ca_file)
        return env


# -- pytest fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def imap_ca() -> trustme.CA:
    """The CA the test IMAP servers' certificates chain to."""
    return trustme.CA()


@pytest.fixture(scope="session")
def imap_ca_file(imap_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """imap_ca as a PEM file, for DISTRIBUTIE_BOUNCE_IMAP_CA_FILE."""
    path = tmp_path_factory.mktemp("imap-ca") / "ca.pem"
    imap_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def imap_server() -> Iterator[TestIMAPServer]:
    """Plaintext on loopback, password login."""
    with TestIMAPServer() as server:
        yield server


@pytest.fixture
def imap_starttls_server(imap_ca: trustme.CA, imap_ca_file: Path) -> Iterator[TestIMAPServer]:
    """STARTTLS offered (as on port 143), certificate from imap_ca."""
    with TestIMAPServer(security="starttls", ca=imap_ca, ca_file=imap_ca_file) as server:
        yield server


@pytest.fixture
def imap_tls_server(imap_ca: trustme.CA, imap_ca_file: Path) -> Iterator[TestIMAPServer]:
    """Implicit TLS (as on port 993), certificate from imap_ca."""
    with TestIMAPServer(security="tls", ca=imap_ca, ca_file=imap_ca_file) as server:
        yield server
