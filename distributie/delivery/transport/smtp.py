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
import smtplib
import socket
import threading
import time
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
from distributie.delivery.transport.smtp_dialogue import (
    ConnectionGone,
    RefusedReply,
    data_body,
    early_reply,
    mail_options,
    readable,
    send_envelope,
)
from distributie.delivery.transport.smtp_open import SMTPOpener
from distributie.errors import ConfigError
from distributie.oauth import AccessToken
from distributie.settings import Settings

log = logging.getLogger(__name__)

_END_OF_DATA = b".\r\n"
# A connection unused for longer is asked NOOP before the next message: a relay or a firewall
# may have dropped it without a word, and finding out at MAIL would cost the recipient an attempt.
_IDLE_PROBE_AFTER = 20.0
# Each chunk gets the full socket timeout: a slow but moving upload of a large message must not
# time out, whereas sendall() would apply the timeout to the whole body at once.
_SEND_CHUNK = 64 * 1024


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
        # True from MAIL FROM until the server accepts the message: a transaction that did not
        # complete is cleared with RSET before the next one.
        self._dirty = False
        self._last_used = time.monotonic()
        self._messages_on_connection = 0
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
        body = data_body(message, envelope.crlf)
        with self._lock:
            smtp = self._ready_connection()
            try:
                smtp = self._send_signed_in(smtp, envelope, message, body)
            except RefusedReply as refused:
                if refused.out_of_step or refused.code == 421 or not 400 <= refused.code <= 599:
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
        this one is no longer good, or if a reused connection turns out to be closed. Returns
        the connection the message is on."""
        reused = self._messages_on_connection > 0
        try:
            self._send_up_to_end_of_data(smtp, envelope, message, body)
            return smtp
        except ConnectionGone:
            if not reused:
                raise
            self._disconnect()
            smtp = self._connect()
            self._send_up_to_end_of_data(smtp, envelope, message, body)
            return smtp
        except RefusedReply as refused:
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
        # Set first: whatever happens from here on, until the server accepts the message the
        # next one starts with RSET, which also notices a connection the server has closed.
        self._dirty = True
        options = mail_options(smtp, envelope, message, body, self._peer.where)
        send_envelope(smtp, envelope, options)
        for start in range(0, len(body), _SEND_CHUNK):
            smtp.send(body[start : start + _SEND_CHUNK])
        early = early_reply(smtp, self._peer.where)
        if early is not None:
            # The dialogue is out of step after this, whatever was said.
            self._disconnect()
            raise RefusedReply(*early)

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
        self._last_used = time.monotonic()
        self._messages_on_connection += 1
        if 200 <= code <= 299:
            # A completed transaction needs no RSET before the next (RFC 5321).
            self._dirty = False
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
        if smtp is not None and not self._still_good(smtp):
            # Closed by the server (idle timeout) or confused: start over, quietly.
            self._disconnect()
            smtp = None
        if smtp is None:
            smtp = self._connect()
        return smtp

    def _still_good(self, smtp: smtplib.SMTP) -> bool:
        """Whether an open connection can take the next message: RSET after a transaction that
        did not complete; NOOP after a long idle spell or when the server spoke unasked (a 421
        before closing); otherwise nothing, so a busy connection costs no round trip."""
        sock = smtp.sock
        if sock is None:
            return False
        if self._dirty:
            probe = smtp.rset
        elif readable(sock) or time.monotonic() - self._last_used > _IDLE_PROBE_AFTER:
            probe = smtp.noop
        else:
            return True
        try:
            code, _ = probe()
        except (smtplib.SMTPException, OSError):
            return False
        self._dirty = code != 250
        return code == 250

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
        self._last_used = time.monotonic()
        self._messages_on_connection = 0
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
