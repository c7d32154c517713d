"""Turns what an SMTP server or the network did into transient, permanent or configuration
errors, with the password taken out of anything a server echoed."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import SecretStr

from distributie.delivery.transport.base import (
    CertificateError,
    PermanentSendError,
    Reply,
    SendError,
    SMTPConfigurationError,
    TransientSendError,
)


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

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _secrets(self) -> Iterator[str]:
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
