"""Turns what an SMTP server or the network did into transient, permanent or configuration
errors, with the password and the OAuth2 access tokens taken out of anything a server echoed."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import SecretStr

from distributie.delivery.transport.base import (
    CertificateError,
    PermanentSendError,
    Reply,
    SendError,
    SMTPConfigurationError,
    TransientSendError,
)
from distributie.settings import Settings

# What a server answers to MAIL on a connection signed in with an OAuth2 token it no longer
# takes (expired or revoked): 535 5.7.3 and the connection stays, or 421 and it closes.
TOKEN_REFUSED_CODES = frozenset({421, 535})
# Tokens (and their SASL strings) kept for redaction: the current ones and a few before them.
_REMEMBERED_TOKENS = 8


def token_refused_at_mail(code: int) -> bool:
    """Whether a reply to MAIL on a connection signed in with an OAuth2 token means: sign in
    again (nothing of the message has been sent yet)."""
    return code in TOKEN_REFUSED_CODES


def decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def chainable(exc: BaseException) -> BaseException | None:
    """Keep causes for debugging, except server replies: a server may echo credentials."""
    return None if isinstance(exc, smtplib.SMTPResponseException) else exc


@dataclass(frozen=True)
class Peer:
    """The server being talked to, and what must never be repeated from its replies."""

    host: str
    port: int
    timeout: float
    username: str | None = None
    password: SecretStr | None = None
    # OAuth2 access tokens this process signed in with lately, and their AUTH XOAUTH2 strings.
    tokens: deque[str] = field(
        default_factory=lambda: deque(maxlen=2 * _REMEMBERED_TOKENS), repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Peer:
        if settings.smtp_host is None:
            raise ValueError("no SMTP host in these settings")
        return cls(
            settings.smtp_host,
            settings.effective_smtp_port,
            settings.smtp_timeout,
            settings.smtp_username,
            settings.smtp_password,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def remember(self, token: str, sasl: str) -> None:
        """Also keep an access token and its base64 XOAUTH2 string out of what is repeated."""
        self.tokens.extend((token, sasl))

    def _secrets(self) -> Iterator[str]:
        yield from tuple(self.tokens)  # a copy: another thread may be signing in
        password = self.password.get_secret_value() if self.password else ""
        if not password:
            return
        yield password
        yield base64.b64encode(password.encode()).decode()
        plain = f"\0{self.username or ''}\0{password}".encode()
        yield base64.b64encode(plain).decode()

    def redact(self, text: str) -> str:
        # A hostile or buggy server may echo what it was sent; never pass the password on.
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def error_for_reply(self, code: int, text: str) -> SendError:
        reply = Reply(code, self.redact(text))
        if 500 <= code <= 599:
            return PermanentSendError(reply)
        return TransientSendError(reply)

    def no_reply_reason(self, exc: BaseException) -> str:
        if isinstance(exc.__context__, TimeoutError) or "timed out" in str(exc):
            return f"no reply within {self.timeout:g} s"
        return self.redact(str(exc)) or type(exc).__name__

    def error_for_exception(self, exc: BaseException, *, connecting: bool = False) -> SendError:
        if isinstance(exc, SendError):
            return exc
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or str(exc)
            return CertificateError(
                Reply(None, f"TLS certificate verification failed for {self.where}: {reason}")
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return self._error_for_response(exc, connecting)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            if isinstance(exc.__context__, TimeoutError):
                return TransientSendError(Reply(None, f"timed out talking to {self.where}"))
            return TransientSendError(
                Reply(None, f"connection to {self.where} lost: {self.redact(str(exc))}")
            )
        if isinstance(exc, smtplib.SMTPException):
            return SMTPConfigurationError(Reply(None, f"{self.where}: {self.redact(str(exc))}"))
        return TransientSendError(Reply(None, self._network_reason(exc)))

    def _error_for_response(
        self, exc: smtplib.SMTPResponseException, connecting: bool
    ) -> SendError:
        # Greeting, EHLO, STARTTLS or a reply that broke smtplib.
        code, text = exc.smtp_code, self.redact(decode(exc.smtp_error))
        if 500 <= code <= 599:
            if connecting:
                return SMTPConfigurationError(Reply(code, text))
            return PermanentSendError(Reply(code, text))
        return TransientSendError(Reply(code if code > 0 else None, text))

    def _network_reason(self, exc: BaseException) -> str:
        where = self.where
        if isinstance(exc, socket.gaierror):
            return f"cannot resolve {self.host}: {exc.strerror}"
        if isinstance(exc, ConnectionRefusedError):
            return f"connection refused by {where}"
        if isinstance(exc, ConnectionResetError):
            return f"connection reset by {where}"
        if isinstance(exc, TimeoutError):
            return f"timed out talking to {where}"
        if isinstance(exc, ssl.SSLError):
            return f"TLS error with {where}: {exc}"
        if isinstance(exc, OSError):
            return f"network error with {where}: {exc}"
        return f"unexpected error with {where}: {exc!r}"
