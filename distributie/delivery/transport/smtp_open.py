"""Opens one SMTP connection in the configured security mode and signs in: one method per mode,
and never a fallback to plaintext."""

from __future__ import annotations

import contextlib
import functools
import smtplib
import socket
import ssl
from collections.abc import Iterator

from distributie.delivery.transport.base import Reply, SMTPConfigurationError, TransientSendError
from distributie.delivery.transport.classify import Peer, decode
from distributie.errors import ConfigError
from distributie.settings import Settings


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


def _no_delay(smtp: smtplib.SMTP) -> None:
    """Send small writes at once. The final ".\\r\\n" follows the body as a separate small write;
    with Nagle's algorithm it waits for the ACK of the body's last segment, which the server
    delays (~40 ms on Linux), so every message would cost a delayed-ACK timeout."""
    if smtp.sock is not None:
        with contextlib.suppress(OSError):
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@contextlib.contextmanager
def _closed_on_error(smtp: smtplib.SMTP) -> Iterator[None]:
    """Close a half-opened connection when its greeting or TLS set-up fails."""
    try:
        yield
    except BaseException:
        smtp.close()
        raise


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The context that verifies the server's certificate (None for security `none`)."""
    if settings.smtp_security == "none":
        return None
    try:
        # With a CA file, only that CA is trusted (create_default_context then skips the
        # system store): a private relay's certificate must chain to it.
        return ssl.create_default_context(
            cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"DISTRIBUTIE_SMTP_CA_FILE: cannot load {settings.smtp_ca_file}: {exc}"
        ) from None


class SMTPOpener:
    """Makes signed-in connections to the configured relay. Raises smtplib/OSError errors as they
    come (the transport classifies them), and SendErrors for refusals it understands itself."""

    def __init__(self, settings: Settings, peer: Peer) -> None:
        self._security = settings.smtp_security
        self._helo_name = settings.smtp_helo_name or None
        self._peer = peer
        self._tls_context = tls_context(settings)

    def open(self) -> smtplib.SMTP:
        opener = {
            "starttls": self._open_starttls,
            "tls": self._open_tls,
            "none": self._open_plaintext,
        }[self._security]
        smtp = opener()
        try:
            _no_delay(smtp)
            if self._peer.username is not None:
                self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _helo(self) -> str:
        return self._helo_name or _default_helo_name()

    def _plain_connection(self) -> smtplib.SMTP:
        peer = self._peer
        return smtplib.SMTP(peer.host, peer.port, local_hostname=self._helo(), timeout=peer.timeout)

    def _open_starttls(self) -> smtplib.SMTP:
        smtp = self._plain_connection()
        with _closed_on_error(smtp):
            smtp.ehlo_or_helo_if_needed()
            if not smtp.has_extn("starttls"):
                # Falling back to plaintext would hand the password and the mail to anyone
                # on the path.
                raise SMTPConfigurationError(
                    Reply(
                        None,
                        f"{self._peer.where} does not offer STARTTLS; refusing to send "
                        f"unencrypted (DISTRIBUTIE_SMTP_SECURITY=starttls)",
                    )
                )
            smtp.starttls(context=self._tls_context)
            smtp.ehlo_or_helo_if_needed()
        return smtp

    def _open_tls(self) -> smtplib.SMTP:
        peer = self._peer
        smtp = smtplib.SMTP_SSL(
            peer.host,
            peer.port,
            local_hostname=self._helo(),
            timeout=peer.timeout,
            context=self._tls_context,
        )
        with _closed_on_error(smtp):
            smtp.ehlo_or_helo_if_needed()
        return smtp

    def _open_plaintext(self) -> smtplib.SMTP:
        smtp = self._plain_connection()
        with _closed_on_error(smtp):
            smtp.ehlo_or_helo_if_needed()
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        peer = self._peer
        password = peer.password.get_secret_value() if peer.password else ""
        try:
            smtp.login(peer.username or "", password)
        except smtplib.SMTPAuthenticationError as exc:
            text = peer.redact(decode(exc.smtp_error))
            if 400 <= exc.smtp_code <= 499:
                raise TransientSendError(Reply(exc.smtp_code, text)) from None
            raise SMTPConfigurationError(Reply(exc.smtp_code, text)) from None
        except smtplib.SMTPNotSupportedError:
            raise SMTPConfigurationError(
                Reply(None, f"{peer.where} does not offer AUTH, but a username is configured")
            ) from None
        finally:
            # smtplib keeps the credentials on the connection object; don't leave them there.
            smtp.user = smtp.password = ""
