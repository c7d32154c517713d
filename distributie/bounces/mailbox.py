"""The bounce mailbox over IMAP: read what arrived, and move each message into the folder
distributie/verwerkt or distributie/onbekend. Nothing is ever deleted."""

from __future__ import annotations

import base64
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from distributie.bounces.mime import MAX_REPORT_BYTES, clean
from distributie.errors import ConfigError, DistributieError
from distributie.settings import Settings

PARENT = "distributie"
Destination = Literal["verwerkt", "onbekend"]
PROCESSED: Destination = "verwerkt"
UNKNOWN: Destination = "onbekend"
# Returns a current OAuth2 access token for the mailbox (issue 13 supplies it).
AccessTokenProvider = Callable[[], str]
DEFAULT_TIMEOUT = 30.0
FETCH_BATCH = 20
_DELETED = b"\\Deleted"
_BYTES_REPR = re.compile(r"b(['\"])(.*)\1", re.S)


class MailboxError(DistributieError):
    """The bounce mailbox cannot be reached, refuses the login, or lacks a folder."""

    exit_code = 2


@dataclass(frozen=True)
class FetchedMessage:
    """One message of the folder that is read, as the server holds it."""

    uid: int
    raw: bytes
    size: int  # RFC822.SIZE
    truncated: bool  # larger than the limit: `raw` is only its header section; set it aside


@dataclass(frozen=True)
class Folders:
    """Full names of the folders distributie sorts into, in the server's hierarchy."""

    delimiter: str | None
    processed: str
    unknown: str

    def name(self, destination: Destination) -> str:
        return self.processed if destination == PROCESSED else self.unknown


def folders_for(delimiter: str | None, prefix: str = "") -> Folders:
    """`distributie/verwerkt` and `distributie/onbekend` with the server's delimiter under its
    personal namespace prefix (e.g. "INBOX."); a server without hierarchy gets flat names."""
    separator = delimiter or "-"
    parent = prefix + PARENT
    return Folders(delimiter, parent + separator + PROCESSED, parent + separator + UNKNOWN)


class _ErrorLines:
    """Turns what the network, TLS and an IMAP server raise into a one-line MailboxError that
    names host:port and never a secret the client sent."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.where = f"{host}:{port}"
        self.timeout = timeout
        self._secrets: list[str] = []

    def remember(self, user: str, secret: str) -> None:
        """The secret of this login, and the encodings a server might quote it in."""
        if secret:
            self._secrets = [
                secret,
                base64.b64encode(secret.encode()).decode(),
                base64.b64encode(f"\0{user}\0{secret}".encode()).decode(),
                base64.b64encode(f"user={user}\1auth=Bearer {secret}\1\1".encode()).decode(),
            ]

    def redact(self, text: str) -> str:
        # A hostile or buggy server may echo what it was sent; never pass a secret on.
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return clean(text, 300)

    @contextmanager
    def around(self, doing: str) -> Iterator[None]:
        try:
            yield
        except MailboxError:
            raise
        except Exception as exc:
            reason = self._reason(exc)
            if reason is None:
                raise
            raise MailboxError(f"{doing} the bounce mailbox at {self.where}: {reason}") from None

    def _reason(self, exc: Exception) -> str | None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {exc.verify_message or exc.reason}"
        if isinstance(exc, ssl.SSLError):
            return f"TLS error: {exc.reason or exc}"
        if isinstance(exc, socket.gaierror):
            return f"cannot resolve {self.host}: {exc.strerror}"
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.timeout:g} s"
        if isinstance(exc, LoginError):
            return f"login refused: {self.redact(_text(exc))}"
        if isinstance(exc, IMAPClientError):
            return self.redact(_text(exc))
        if isinstance(exc, OSError):
            return f"network error: {exc.strerror or type(exc).__name__}"
        return None


class BounceMailbox:
    """A connection to the bounce mailbox of `settings` (use as a context manager).

    Login by password, or with DISTRIBUTIE_BOUNCE_IMAP_AUTH=xoauth2 by XOAUTH2 with the token
    `access_token()` returns at each login. Errors a user can cause are MailboxError (or
    ConfigError for settings), one line naming host:port, never a password or token.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        access_token: AccessTokenProvider | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = MAX_REPORT_BYTES,
    ) -> None:
        if settings.bounce_imap_host is None:
            raise ConfigError("DISTRIBUTIE_BOUNCE_IMAP_HOST is not set: there is no bounce mailbox")
        if settings.bounce_imap_auth == "xoauth2" and access_token is None:
            raise ConfigError(
                "DISTRIBUTIE_BOUNCE_IMAP_AUTH=xoauth2 needs an OAuth2 access token, and none is "
                "configured"
            )
        self._host = settings.bounce_imap_host
        self._port = settings.effective_bounce_imap_port
        self._security = settings.bounce_imap_security
        self._username = settings.bounce_imap_username or ""
        password = settings.bounce_imap_password
        self._password = password.get_secret_value() if password else ""
        self._auth = settings.bounce_imap_auth
        self._access_token = access_token
        self.folder = settings.bounce_imap_folder
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._tls = _tls_context(settings) if self._security != "none" else None
        self._client: Any = None
        self._folders: Folders | None = None
        self._error_lines = _ErrorLines(self._host, self._port, timeout)
        self._errors = self._error_lines.around

    @property
    def where(self) -> str:
        return self._error_lines.where

    # -- connection ------------------------------------------------------------------------

    def __enter__(self) -> BounceMailbox:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, secure the connection as configured, and log in."""
        self.close()
        with self._errors("cannot connect to"):
            client = IMAPClient(
                self._host,
                port=self._port,
                ssl=self._security == "tls",
                ssl_context=self._tls,
                timeout=self._timeout,
            )
        self._client = client
        try:
            if self._security == "starttls":
                self._starttls()
            self._login()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Log out; a connection that is already gone is no error."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            with suppress(OSError):
                client.shutdown()

    def _starttls(self) -> None:
        if not self._client.has_capability("STARTTLS"):
            # Going on in plaintext would hand the password to anyone on the way.
            raise MailboxError(
                f"the bounce mailbox at {self.where} does not offer STARTTLS; "
                f"use DISTRIBUTIE_BOUNCE_IMAP_SECURITY=tls if it wants implicit TLS"
            )
        with self._errors("cannot secure the connection to"):
            self._client.starttls(self._tls)

    def _login(self) -> None:
        with self._errors(f"cannot log in as {self._username} to"):
            if self._auth == "xoauth2":
                assert self._access_token is not None  # checked in __init__
                token = self._access_token()
                self._error_lines.remember(self._username, token)
                self._client.oauth2_login(self._username, token)
            else:
                self._error_lines.remember(self._username, self._password)
                self._client.login(self._username, self._password)

    @property
    def _connected(self) -> Any:
        if self._client is None:
            raise RuntimeError("BounceMailbox is not open; use it as a context manager")
        return self._client

    # -- folders ---------------------------------------------------------------------------

    def folders(self) -> Folders:
        """The names to sort into, from the server's delimiter and personal namespace."""
        if self._folders is None:
            with self._errors("cannot list the folders of"):
                self._folders = self._discover_folders()
        return self._folders

    def _discover_folders(self) -> Folders:
        client = self._connected
        if client.has_capability("NAMESPACE"):
            personal = client.namespace().personal
            if personal:
                prefix, delimiter = personal[0]
                return folders_for(_as_text(delimiter), _as_text(prefix) or "")
        # LIST "" "" answers with the hierarchy delimiter alone (RFC 3501, 6.3.8).
        listed = client.list_folders("", "")
        if not listed:
            listed = client.list_folders("", self.folder)
        delimiter = _as_text(listed[0][1]) if listed else None
        return folders_for(delimiter)

    def ensure_folders(self) -> Folders:
        """Create distributie/verwerkt and distributie/onbekend when missing (and subscribe to
        them, so mail programs show them). Doing it again changes nothing."""
        folders = self.folders()
        client = self._connected
        for name in (folders.processed, folders.unknown):
            with self._errors(f"cannot create the folder {name!r} in"):
                if client.folder_exists(name):
                    continue
                try:
                    client.create_folder(name)
                except IMAPClientError:
                    if not client.folder_exists(name):  # another poller may have just made it
                        raise
            with suppress(IMAPClientError):  # a server without subscriptions still has it
                client.subscribe_folder(name)
        return folders

    # -- messages --------------------------------------------------------------------------

    def _select(self) -> None:
        client = self._connected
        with self._errors(f"cannot open the folder {self.folder!r} of"):
            try:
                client.select_folder(self.folder)
            except IMAPClientError:
                if not client.folder_exists(self.folder):
                    raise MailboxError(
                        f"the bounce mailbox at {self.where} has no folder {self.folder!r} "
                        f"(DISTRIBUTIE_BOUNCE_IMAP_FOLDER)"
                    ) from None
                raise

    def unprocessed(self) -> list[int]:
        """UIDs of the messages in the configured folder, oldest first. Messages flagged
        \\Deleted (by someone, or by a move on a server without MOVE or UIDPLUS) are left out."""
        self._select()
        with self._errors(f"cannot search the folder {self.folder!r} of"):
            return sorted(int(uid) for uid in self._connected.search(["UNDELETED"]))

    def fetch(self, uids: list[int]) -> Iterator[FetchedMessage]:
        """The exact bytes of these messages, without marking them read. A UID that is no
        longer there (moved meanwhile) is skipped. Of a message larger than `max_bytes` only
        the header section is fetched, and it is marked truncated."""
        self._select()
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            with self._errors(f"cannot fetch messages from the folder {self.folder!r} of"):
                yield from self._fetch_batch(batch)

    def _fetch_batch(self, batch: list[int]) -> Iterator[FetchedMessage]:
        client = self._connected
        sizes = {
            uid: int(data[b"RFC822.SIZE"])
            for uid, data in client.fetch(batch, ["RFC822.SIZE"]).items()
        }
        large = {uid for uid, size in sizes.items() if size > self._max_bytes}
        whole = [uid for uid in sizes if uid not in large]
        bodies: dict[int, object] = {}
        if whole:
            for uid, data in client.fetch(whole, ["BODY.PEEK[]"]).items():
                bodies[uid] = data.get(b"BODY[]")
        if large:
            # Only the header section: enough to name and set aside what nobody reads whole.
            for uid, data in client.fetch(sorted(large), ["BODY.PEEK[HEADER]"]).items():
                bodies[uid] = data.get(b"BODY[HEADER]")
        for uid in batch:
            raw = bodies.get(uid)
            if isinstance(raw, bytes):
                yield FetchedMessage(uid, raw, sizes[uid], truncated=uid in large)

    def fetch_unprocessed(self, limit: int | None = None) -> Iterator[FetchedMessage]:
        """The messages of the configured folder, oldest first, at most `limit`."""
        uids = self.unprocessed()
        yield from self.fetch(uids[:limit] if limit is not None else uids)

    def move(self, uid: int, destination: Destination) -> None:
        """Move one message to distributie/verwerkt or distributie/onbekend: with MOVE when the
        server has it, else COPY, flag \\Deleted and UID EXPUNGE of that one UID. A UID that is
        no longer in the folder (moved already) is no error."""
        target = self.folders().name(destination)
        self._select()
        client = self._connected
        with self._errors(f"cannot move message {uid} to {target!r} in"):
            if client.has_capability("MOVE"):
                client.move([uid], target)
                return
            client.copy([uid], target)
            client.add_flags([uid], [_DELETED], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge([uid])
            # Without UIDPLUS, EXPUNGE would also remove every other message someone flagged
            # \Deleted in this folder: the original stays, flagged, and is not read again.


def _tls_context(settings: Settings) -> ssl.SSLContext:
    ca_file = settings.bounce_imap_ca_file
    try:
        # With a CA file, only that CA is trusted (the system store is then not loaded).
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"DISTRIBUTIE_BOUNCE_IMAP_CA_FILE: cannot load {ca_file}: {exc}"
        ) from None


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _text(exc: Exception) -> str:
    """The server's words in an imapclient exception, which often holds the repr of bytes."""
    text = " ".join(_as_text(arg) or "" for arg in exc.args) or type(exc).__name__
    quoted = _BYTES_REPR.fullmatch(text)
    return quoted.group(2) if quoted else text
