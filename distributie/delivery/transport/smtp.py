"""Hands one finished message to SMTP over one reused connection per process, and says exactly how
far it got: accepted, not accepted (retry or not), or unknown.

A connection signed in with an OAuth2 token (XOAUTH2) is not reused once that token is due for
renewal, and when the server refuses MAIL because the token expired early or was revoked (535
5.7.3, or 421 and a hang-up), it signs in again and tries once more at once: nothing of the
message had gone out, so this is the same attempt.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from types import TracebackType

from distributie.delivery.transport.base import (
    ConnectionGate,
    Envelope,
    PermanentSendError,
    Reply,
    SendError,
    TransientSendError,
    UnknownOutcomeError,
    check_envelope,
)
from distributie.delivery.transport.classify import (
    Peer,
    chainable,
    decode,
    token_refused_at_mail,
)
from distributie.delivery.transport.smtp_open import SMTPOpener
from distributie.errors import ConfigError
from distributie.oauth import AccessToken
from distributie.settings import Settings

log = logging.getLogger(__name__)

_CRLF = b"\r\n"
_END_OF_DATA = b".\r\n"
_LINE_ENDING = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# Each chunk gets the full socket timeout: a slow but moving upload of a large message must not
# time out, whereas sendall() would apply the timeout to the whole body at once.
_SEND_CHUNK = 64 * 1024


class _RefusedReply(Exception):
    """A coherent 4xx/5xx (or unexpected) reply before the end of DATA; `to_mail` when it was
    the reply to MAIL FROM, the first command of a message."""

    def __init__(self, code: int, text: str, *, to_mail: bool = False) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text
        self.to_mail = to_mail


def _readable(sock: socket.socket) -> bool:
    # poll(), not select(): select() cannot watch descriptors numbered 1024 and up.
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


def _early_reply(smtp: smtplib.SMTP, where: str) -> tuple[int, str] | None:
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
        raise smtplib.SMTPServerDisconnected(f"{where} closed the connection during DATA")
    line = data.split(b"\n", 1)[0]
    code = int(line[:3]) if line[:3].isdigit() else -1
    return code, decode(line[4:].strip())


def data_body(message: bytes) -> bytes:
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


def _mail_options(
    smtp: smtplib.SMTP, envelope: Envelope, message: bytes, body: bytes, where: str
) -> list[str]:
    options = []
    if smtp.has_extn("size"):
        options.append(f"SIZE={len(body)}")
    if not message.isascii() and smtp.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    if not all(map(str.isascii, (envelope.sender, *envelope.recipients))):
        if not smtp.has_extn("smtputf8"):
            raise PermanentSendError(
                Reply(None, f"{where} does not support SMTPUTF8 (non-ASCII address)")
            )
        options.append("SMTPUTF8")
    return options


class SMTPTransport:
    """One SMTP connection, opened on first use and reused for every following message.

    Calls are serialised by a lock, so threads sharing one instance send one at a time; create
    one per worker process.
    """

    def __init__(self, settings: Settings, connection_gate: ConnectionGate | None = None) -> None:
        if settings.smtp_host is None:
            raise ConfigError("DISTRIBUTIE_SMTP_HOST is not set: there is no SMTP server to use")
        self._peer = Peer.from_settings(settings)
        self._security = settings.smtp_security
        self._opener = SMTPOpener(settings, self._peer)
        self._gate = connection_gate
        self._smtp: smtplib.SMTP | None = None
        self._token: AccessToken | None = None  # what self._smtp signed in with (XOAUTH2)
        self._gate_held = False
        # True once MAIL FROM went out on this connection: the next message starts with RSET.
        self._dirty = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SMTPTransport({self._peer.where}, security={self._security})"

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
        check_envelope(envelope)
        body = data_body(message)
        with self._lock:
            smtp = self._ready_connection()
            try:
                smtp = self._send_signed_in(smtp, envelope, message, body)
            except _RefusedReply as refused:
                if refused.code == 421 or not 400 <= refused.code <= 599:
                    # 421: the server is closing; anything odd: the dialogue is out of step.
                    self._disconnect()
                raise self._peer.error_for_reply(refused.code, refused.text) from None
            except SendError:
                raise
            except (OSError, smtplib.SMTPException) as exc:
                self._disconnect()
                raise self._peer.error_for_exception(exc) from chainable(exc)
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

    def _send_signed_in(
        self, smtp: smtplib.SMTP, envelope: Envelope, message: bytes, body: bytes
    ) -> smtplib.SMTP:
        """Up to the end of DATA; once more on a new connection if MAIL says the OAuth2 token of
        this one is no longer good. Returns the connection the message is on."""
        try:
            self._send_up_to_end_of_data(smtp, envelope, message, body)
            return smtp
        except _RefusedReply as refused:
            token, code = self._token, refused.code
            if token is None or not refused.to_mail or not token_refused_at_mail(code):
                raise
        log.info(
            "%s refused MAIL on a connection signed in with an OAuth2 token (%d); signing in again",
            self._peer.where,
            code,
        )
        self._disconnect(polite=True)
        if code == 535:
            self._opener.renew(token)
        # After a 421 the token may still be good: AUTH itself renews it if it is not.
        smtp = self._connect()
        self._send_up_to_end_of_data(smtp, envelope, message, body)
        return smtp

    def _send_up_to_end_of_data(
        self, smtp: smtplib.SMTP, envelope: Envelope, message: bytes, body: bytes
    ) -> None:
        # Set first: whatever happens from here on, the next message starts with RSET, which
        # also notices a connection the server has closed in the meantime.
        self._dirty = True
        options = _mail_options(smtp, envelope, message, body, self._peer.where)
        code, text = smtp.mail(envelope.sender, options)
        if not 200 <= code <= 299:
            raise _RefusedReply(code, decode(text), to_mail=True)
        # All or nothing: delivering to some recipients and retrying for the rest would send
        # the message twice to the ones that were accepted.
        for recipient in envelope.recipients:
            code, text = smtp.rcpt(recipient)
            if not 200 <= code <= 299:
                raise _RefusedReply(code, decode(text))
        code, text = smtp.docmd("DATA")
        if code != 354:
            raise _RefusedReply(code, decode(text))
        for start in range(0, len(body), _SEND_CHUNK):
            smtp.send(body[start : start + _SEND_CHUNK])
        early = _early_reply(smtp, self._peer.where)
        if early is not None:
            # The dialogue is out of step after this, whatever was said.
            self._disconnect()
            raise _RefusedReply(*early)

    def _finish(self, smtp: smtplib.SMTP) -> Reply:
        try:
            smtp.send(_END_OF_DATA)
            code, raw = smtp.getreply()
        except Exception as exc:
            self._disconnect()
            raise UnknownOutcomeError(
                Reply(
                    None,
                    f"the end of DATA was sent to {self._peer.where} but no reply came "
                    f"({self._peer.no_reply_reason(exc)}); the message may have been accepted",
                )
            ) from chainable(exc)
        except BaseException:
            self._disconnect()
            raise
        return self._verdict(code, self._peer.redact(decode(raw)))

    def _verdict(self, code: int, text: str) -> Reply:
        """The server's reply to the end of DATA, as an outcome."""
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
                f"the end of DATA was sent to {self._peer.where} and the reply made no sense "
                f"({code} {text!r}); the message may have been accepted",
            )
        )

    # -- the connection ----------------------------------------------------------------------

    def _ready_connection(self) -> smtplib.SMTP:
        if self._token is not None and not self._token.is_fresh():
            # Signed in with a token that is about to expire: the server may drop the session
            # any moment now. Sign in afresh rather than find out in the middle of a message.
            self._disconnect(polite=True)
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
            connection = self._opener.open()
        except SendError:
            self._release_gate()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self._release_gate()
            raise self._peer.error_for_exception(exc, connecting=True) from chainable(exc)
        except BaseException:
            self._release_gate()
            raise
        self._smtp, self._token = connection.smtp, connection.token
        self._dirty = False
        return connection.smtp

    def _disconnect(self, *, abort: bool = False, polite: bool = False) -> None:
        smtp, self._smtp = self._smtp, None
        self._token = None
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
