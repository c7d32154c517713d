"""Hands one finished message to SMTP (one reused connection per process) or to the outbox folder,
and says exactly how far it got: accepted, not accepted (retry or not), or unknown."""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import os
import re
import select
import smtplib
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from distributie.errors import ConfigError
from distributie.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "CertificateError",
    "ConnectionGate",
    "Envelope",
    "OutboxTransport",
    "PermanentSendError",
    "Reply",
    "SMTPConfigurationError",
    "SMTPTransport",
    "SendError",
    "TransientSendError",
    "Transport",
    "UnknownOutcomeError",
    "make_transport",
]

_CRLF = b"\r\n"
_END_OF_DATA = b".\r\n"
_LINE_ENDING = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# Each chunk gets the full socket timeout: a slow but moving upload of a large message must not
# time out, whereas sendall() would apply the timeout to the whole body at once.
_SEND_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Envelope:
    sender: str  # MAIL FROM
    recipients: tuple[str, ...]  # RCPT TO
    run_id: str
    recipient_key: str  # file stem in the outbox


@dataclass(frozen=True)
class Reply:
    code: int | None
    text: str


class Transport(Protocol):
    def send(
        self, envelope: Envelope, message: bytes, before_end_of_data: Callable[[], None]
    ) -> Reply: ...

    def close(self) -> None: ...


class ConnectionGate(Protocol):
    """Caps open SMTP connections across all workers (e.g. a Redis semaphore)."""

    def acquire(self) -> None:
        """Block until this process may hold one connection."""

    def release(self) -> None:
        """Give the connection slot back."""


class SendError(Exception):
    """The message was not (known to be) accepted; `reply` is what the server or network said."""

    def __init__(self, reply: Reply) -> None:
        # args=(reply,) keeps the exception picklable (Celery may pickle it).
        super().__init__(reply)
        self.reply = reply

    def __str__(self) -> str:
        if self.reply.code is None:
            return self.reply.text
        return f"{self.reply.code} {self.reply.text}"


class TransientSendError(SendError):
    """Not accepted this time; trying again later may work."""


class PermanentSendError(SendError):
    """Not accepted and never will be: do not retry this message."""


class UnknownOutcomeError(SendError):
    """The end of DATA went out but no verdict came back: the server may have accepted it."""


class SMTPConfigurationError(PermanentSendError):
    """Every message would fail the same way (certificate, no STARTTLS, login, refused session).

    A PermanentSendError, but the cause is the setup rather than the message, so a caller may
    prefer to stop the run instead of failing recipient after recipient.
    """


class CertificateError(SMTPConfigurationError):
    """The server's TLS certificate could not be verified; the reply text says why."""


class _RefusedReply(Exception):
    """A coherent 4xx/5xx (or unexpected) reply before the end of DATA."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text


@functools.cache
def _default_helo_name() -> str:
    # smtplib would call socket.getfqdn() on every reconnect, which can stall on reverse DNS.
    fqdn = socket.getfqdn()
    if "." in fqdn:
        return fqdn
    try:
        return f"[{socket.gethostbyname(socket.gethostname())}]"
    except OSError:
        return "[127.0.0.1]"


def _readable(sock: socket.socket) -> bool:
    # poll(), not select(): select() cannot watch descriptors numbered 1024 and up.
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


def _data_body(message: bytes) -> bytes:
    """The DATA payload without its final dot: CRLF line endings, dot-stuffed, ending in CRLF."""
    body = message
    crlf = body.count(_CRLF)
    # The regular expressions cost ~0.3 ms on a 57 kB message; skip them when they would
    # change nothing (every line already ends in CRLF; no line starts with a dot).
    if body.count(b"\n") != crlf or body.count(b"\r") != crlf:
        body = _LINE_ENDING.sub(_CRLF, body)
    if body.startswith(b".") or b"\n." in body:
        body = _LEADING_DOT.sub(b"..", body)
    if body and not body.endswith(_CRLF):
        body += _CRLF
    return body


def _no_delay(smtp: smtplib.SMTP) -> None:
    """Send small writes at once. The final ".\\r\\n" follows the body as a separate small write;
    with Nagle's algorithm it waits for the ACK of the body's last segment, which the server
    delays (~40 ms on Linux), so every message would cost a delayed-ACK timeout."""
    if smtp.sock is not None:
        with contextlib.suppress(OSError):
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _check_envelope(envelope: Envelope) -> None:
    if not envelope.recipients:
        raise ValueError("an envelope needs at least one recipient")
    for address in (envelope.sender, *envelope.recipients):
        if any(c in address for c in "\r\n\0<>"):
            raise PermanentSendError(Reply(None, f"invalid e-mail address {address!r}"))


def _decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


@contextlib.contextmanager
def _closed_on_error(smtp: smtplib.SMTP) -> Iterator[None]:
    """Close a half-opened connection when its greeting or TLS set-up fails."""
    try:
        yield
    except BaseException:
        smtp.close()
        raise


class SMTPTransport:
    """One SMTP connection, opened on first use and reused for every following message.

    Calls are serialised by a lock, so threads sharing one instance send one at a time; create
    one per worker process.
    """

    def __init__(self, settings: Settings, connection_gate: ConnectionGate | None = None) -> None:
        if settings.smtp_host is None:
            raise ConfigError("DISTRIBUTIE_SMTP_HOST is not set: there is no SMTP server to use")
        self._host = settings.smtp_host
        self._port = settings.effective_smtp_port
        self._security = settings.smtp_security
        self._username = settings.smtp_username
        self._password = settings.smtp_password
        self._timeout = settings.smtp_timeout
        self._helo_name = settings.smtp_helo_name
        self._gate = connection_gate
        self._tls_context: ssl.SSLContext | None = None
        if self._security != "none":
            try:
                # With a CA file, only that CA is trusted (create_default_context then skips the
                # system store): a private relay's certificate must chain to it.
                self._tls_context = ssl.create_default_context(
                    cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
                )
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"DISTRIBUTIE_SMTP_CA_FILE: cannot load {settings.smtp_ca_file}: {exc}"
                ) from None
        self._smtp: smtplib.SMTP | None = None
        self._gate_held = False
        # True once MAIL FROM went out on this connection: the next message starts with RSET.
        self._dirty = False
        self._lock = threading.Lock()

    @property
    def _where(self) -> str:
        return f"{self._host}:{self._port}"

    def __repr__(self) -> str:
        return f"SMTPTransport({self._where}, security={self._security})"

    def __enter__(self) -> SMTPTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- sending -----------------------------------------------------------------------------

    def send(
        self, envelope: Envelope, message: bytes, before_end_of_data: Callable[[], None]
    ) -> Reply:
        _check_envelope(envelope)
        body = _data_body(message)
        with self._lock:
            smtp = self._ready_connection()
            try:
                self._send_up_to_end_of_data(smtp, envelope, message, body)
            except _RefusedReply as refused:
                if refused.code == 421 or not 400 <= refused.code <= 599:
                    # 421: the server is closing; anything odd: the dialogue is out of step.
                    self._disconnect()
                raise self._error_for_reply(refused.code, refused.text) from None
            except SendError:
                raise
            except (OSError, smtplib.SMTPException) as exc:
                self._disconnect()
                raise self._error_for_exception(exc) from _chainable(exc)
            except BaseException:
                # Not ours to classify (e.g. a task time limit): just leave a clean state.
                self._disconnect()
                raise

            try:
                before_end_of_data()
            except BaseException:
                # Without the final dot the server discards the message: drop the line now.
                self._disconnect(abort=True)
                raise
            return self._finish(smtp)

    def _send_up_to_end_of_data(
        self, smtp: smtplib.SMTP, envelope: Envelope, message: bytes, body: bytes
    ) -> None:
        # Set first: whatever happens from here on, the next message starts with RSET, which
        # also notices a connection the server has closed in the meantime.
        self._dirty = True
        options = []
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(body)}")
        if not message.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not all(map(str.isascii, (envelope.sender, *envelope.recipients))):
            if not smtp.has_extn("smtputf8"):
                raise PermanentSendError(
                    Reply(None, f"{self._where} does not support SMTPUTF8 (non-ASCII address)")
                )
            options.append("SMTPUTF8")

        code, text = smtp.mail(envelope.sender, options)
        if not 200 <= code <= 299:
            raise _RefusedReply(code, _decode(text))
        # All or nothing: delivering to some recipients and retrying for the rest would send
        # the message twice to the ones that were accepted.
        for recipient in envelope.recipients:
            code, text = smtp.rcpt(recipient)
            if not 200 <= code <= 299:
                raise _RefusedReply(code, _decode(text))
        code, text = smtp.docmd("DATA")
        if code != 354:
            raise _RefusedReply(code, _decode(text))
        for start in range(0, len(body), _SEND_CHUNK):
            smtp.send(body[start : start + _SEND_CHUNK])
        early = self._early_reply(smtp)
        if early is not None:
            raise _RefusedReply(*early)

    def _early_reply(self, smtp: smtplib.SMTP) -> tuple[int, str] | None:
        """A server that gives up in the middle of DATA (size limit, shutdown) says so before we
        send the final dot; noticing it here keeps that a plain failure instead of an unknown
        outcome."""
        sock = smtp.sock
        if sock is None:
            raise smtplib.SMTPServerDisconnected("connection closed during DATA")
        buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not buffered and not _readable(sock):
            return None
        timeout = sock.gettimeout()
        sock.settimeout(0)
        try:
            data = sock.recv(4096)
        except (BlockingIOError, ssl.SSLWantReadError):
            # Readable for TLS bookkeeping (e.g. a session ticket), not for a reply.
            return None
        finally:
            sock.settimeout(timeout)
        if not data:
            raise smtplib.SMTPServerDisconnected(f"{self._where} closed the connection during DATA")
        # The dialogue is out of step after this, whatever was said.
        self._disconnect()
        line = data.split(b"\n", 1)[0]
        code = int(line[:3]) if line[:3].isdigit() else -1
        return code, _decode(line[4:].strip())

    def _finish(self, smtp: smtplib.SMTP) -> Reply:
        try:
            smtp.send(_END_OF_DATA)
            code, raw = smtp.getreply()
        except Exception as exc:
            self._disconnect()
            raise UnknownOutcomeError(
                Reply(
                    None,
                    f"the end of DATA was sent to {self._where} but no reply came "
                    f"({self._no_reply_reason(exc)}); the message may have been accepted",
                )
            ) from _chainable(exc)
        except BaseException:
            self._disconnect()
            raise
        text = self._redact(_decode(raw))
        if 200 <= code <= 299:
            return Reply(code, text)
        if code == 421 or not 400 <= code <= 599:
            self._disconnect()
        if 400 <= code <= 499:
            raise TransientSendError(Reply(code, text))
        if 500 <= code <= 599:
            raise PermanentSendError(Reply(code, text))
        raise UnknownOutcomeError(
            Reply(
                None,
                f"the end of DATA was sent to {self._where} and the reply made no sense "
                f"({code} {text!r}); the message may have been accepted",
            )
        )

    def _no_reply_reason(self, exc: Exception) -> str:
        if isinstance(exc.__context__, TimeoutError) or "timed out" in str(exc):
            return f"no reply within {self._timeout:g} s"
        return self._redact(str(exc)) or type(exc).__name__

    # -- the connection ----------------------------------------------------------------------

    def _ready_connection(self) -> smtplib.SMTP:
        smtp = self._smtp
        if smtp is not None and self._dirty:
            try:
                code, _ = smtp.rset()
            except (smtplib.SMTPException, OSError):
                code = -1
            if code == 250:
                self._dirty = False
            else:
                # Closed by the server (idle timeout) or confused: start over, quietly.
                self._disconnect()
                smtp = None
        if smtp is None:
            smtp = self._connect()
        return smtp

    def _connect(self) -> smtplib.SMTP:
        if self._gate is not None:
            self._gate.acquire()
            self._gate_held = True
        try:
            opener = {
                "starttls": self._open_starttls,
                "tls": self._open_tls,
                "none": self._open_plaintext,
            }[self._security]
            smtp = opener()
            try:
                _no_delay(smtp)
                if self._username is not None:
                    self._login(smtp)
            except BaseException:
                smtp.close()
                raise
        except SendError:
            self._release_gate()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self._release_gate()
            raise self._error_for_exception(exc, connecting=True) from _chainable(exc)
        except BaseException:
            self._release_gate()
            raise
        self._smtp = smtp
        self._dirty = False
        return smtp

    def _helo(self) -> str:
        return self._helo_name or _default_helo_name()

    def _open_starttls(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(
            self._host, self._port, local_hostname=self._helo(), timeout=self._timeout
        )
        with _closed_on_error(smtp):
            smtp.ehlo_or_helo_if_needed()
            if not smtp.has_extn("starttls"):
                # Falling back to plaintext would hand the password and the mail to anyone
                # on the path.
                raise SMTPConfigurationError(
                    Reply(
                        None,
                        f"{self._where} does not offer STARTTLS; refusing to send unencrypted "
                        f"(DISTRIBUTIE_SMTP_SECURITY=starttls)",
                    )
                )
            smtp.starttls(context=self._tls_context)
            smtp.ehlo_or_helo_if_needed()
        return smtp

    def _open_tls(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP_SSL(
            self._host,
            self._port,
            local_hostname=self._helo(),
            timeout=self._timeout,
            context=self._tls_context,
        )
        with _closed_on_error(smtp):
            smtp.ehlo_or_helo_if_needed()
        return smtp

    def _open_plaintext(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(
            self._host, self._port, local_hostname=self._helo(), timeout=self._timeout
        )
        with _closed_on_error(smtp):
            smtp.ehlo_or_helo_if_needed()
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        assert self._username is not None
        password = self._password.get_secret_value() if self._password else ""
        try:
            smtp.login(self._username, password)
        except smtplib.SMTPAuthenticationError as exc:
            text = self._redact(_decode(exc.smtp_error))
            if 400 <= exc.smtp_code <= 499:
                raise TransientSendError(Reply(exc.smtp_code, text)) from None
            raise SMTPConfigurationError(Reply(exc.smtp_code, text)) from None
        except smtplib.SMTPNotSupportedError:
            raise SMTPConfigurationError(
                Reply(None, f"{self._where} does not offer AUTH, but a username is configured")
            ) from None
        finally:
            # smtplib keeps the credentials on the connection object; don't leave them there.
            smtp.user = smtp.password = ""

    def _disconnect(self, *, abort: bool = False, polite: bool = False) -> None:
        smtp, self._smtp = self._smtp, None
        self._dirty = False
        try:
            if smtp is not None:
                if abort and smtp.sock is not None:
                    # shutdown() sends the FIN even if a makefile() reader still holds the
                    # socket; nothing else may go out after an unfinished DATA.
                    with contextlib.suppress(OSError):
                        smtp.sock.shutdown(socket.SHUT_RDWR)
                elif polite and smtp.sock is not None:
                    with contextlib.suppress(smtplib.SMTPException, OSError):
                        smtp.quit()
                smtp.close()
        finally:
            self._release_gate()

    def _release_gate(self) -> None:
        if self._gate is not None and self._gate_held:
            self._gate_held = False
            try:
                self._gate.release()
            except Exception:
                # Never let the cap hide what happened to the message; it has its own expiry.
                log.warning("could not release the SMTP connection gate", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._disconnect(polite=True)

    # -- classification ----------------------------------------------------------------------

    def _error_for_reply(self, code: int, text: str) -> SendError:
        reply = Reply(code, self._redact(text))
        if 500 <= code <= 599:
            return PermanentSendError(reply)
        return TransientSendError(reply)

    def _error_for_exception(self, exc: Exception, *, connecting: bool = False) -> SendError:
        where = self._where
        if isinstance(exc, SendError):
            return exc
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or str(exc)
            return CertificateError(
                Reply(None, f"TLS certificate verification failed for {where}: {reason}")
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            # Greeting, EHLO, STARTTLS or a reply that broke smtplib.
            code, text = exc.smtp_code, self._redact(_decode(exc.smtp_error))
            if 500 <= code <= 599:
                if connecting:
                    return SMTPConfigurationError(Reply(code, text))
                return PermanentSendError(Reply(code, text))
            return TransientSendError(Reply(code if code > 0 else None, text))
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            if isinstance(exc.__context__, TimeoutError):
                return TransientSendError(Reply(None, f"timed out talking to {where}"))
            return TransientSendError(
                Reply(None, f"connection to {where} lost: {self._redact(str(exc))}")
            )
        if isinstance(exc, smtplib.SMTPException):
            return SMTPConfigurationError(Reply(None, f"{where}: {self._redact(str(exc))}"))
        if isinstance(exc, socket.gaierror):
            return TransientSendError(Reply(None, f"cannot resolve {self._host}: {exc.strerror}"))
        if isinstance(exc, ConnectionRefusedError):
            return TransientSendError(Reply(None, f"connection refused by {where}"))
        if isinstance(exc, ConnectionResetError):
            return TransientSendError(Reply(None, f"connection reset by {where}"))
        if isinstance(exc, TimeoutError):
            return TransientSendError(Reply(None, f"timed out talking to {where}"))
        if isinstance(exc, ssl.SSLError):
            return TransientSendError(Reply(None, f"TLS error with {where}: {exc}"))
        if isinstance(exc, OSError):
            return TransientSendError(Reply(None, f"network error with {where}: {exc}"))
        return TransientSendError(Reply(None, f"unexpected error with {where}: {exc!r}"))

    def _secrets(self) -> Iterator[str]:
        if self._password is None:
            return
        password = self._password.get_secret_value()
        if not password:
            return
        yield password
        yield base64.b64encode(password.encode()).decode()
        plain = f"\0{self._username or ''}\0{password}".encode()
        yield base64.b64encode(plain).decode()

    def _redact(self, text: str) -> str:
        # A hostile or buggy server may echo what it was sent; never pass the password on.
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text


def _chainable(exc: Exception) -> Exception | None:
    """Keep causes for debugging, except server replies: a server may echo credentials."""
    return None if isinstance(exc, smtplib.SMTPResponseException) else exc


def _safe_name(name: str, what: str) -> str:
    if (
        not name
        or name.startswith(".")
        or any(c in name for c in "/\\\0")
        or Path(name).name != name
    ):
        raise ValueError(f"refusing {what} {name!r}: it must be a plain file name")
    return name


class OutboxTransport:
    """Writes each message to `<directory>/<run_id>/<recipient_key>.eml` instead of sending it."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxTransport({str(self.directory)!r})"

    def send(
        self, envelope: Envelope, message: bytes, before_end_of_data: Callable[[], None]
    ) -> Reply:
        folder = self.directory / _safe_name(envelope.run_id, "run id")
        key = _safe_name(envelope.recipient_key, "recipient key")
        target = folder / f"{key}.eml"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # The temp file starts with a dot, which a key may not: no clash with any .eml.
            fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        except OSError as exc:
            raise TransientSendError(Reply(None, f"cannot write to {folder}: {exc}")) from exc
        temp = Path(temp_name)
        try:
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(message)
                    file.flush()
                    os.fsync(file.fileno())
            except OSError as exc:
                raise TransientSendError(Reply(None, f"cannot write {temp}: {exc}")) from exc
            before_end_of_data()
            try:
                os.replace(temp, target)
            except OSError as exc:
                raise TransientSendError(Reply(None, f"cannot write {target}: {exc}")) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return Reply(250, f"written to {target}")

    def close(self) -> None:
        pass


def make_transport(settings: Settings, connection_gate: ConnectionGate | None = None) -> Transport:
    """The outbox when no SMTP host is configured, else SMTP."""
    if settings.uses_outbox:
        return OutboxTransport(settings.outbox_dir)
    return SMTPTransport(settings, connection_gate)
