"""Opens one SMTP connection in the configured security mode and signs in: one method per mode,
and never a fallback to plaintext. Signing in is by password (AUTH PLAIN/LOGIN) or, with
DISTRIBUTIE_SMTP_AUTH=xoauth2, by AUTH XOAUTH2 with an OAuth2 access token (Microsoft 365)."""

from __future__ import annotations

import contextlib
import functools
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from distributie.delivery.transport.base import (
    Reply,
    SendError,
    SMTPConfigurationError,
    TransientSendError,
)
from distributie.delivery.transport.classify import Peer, decode
from distributie.errors import ConfigError
from distributie.oauth import (
    AccessToken,
    TokenSource,
    TokenUnavailableError,
    shared_token_source,
    xoauth2_authobject,
    xoauth2_base64,
)
from distributie.settings import Settings

# Microsoft 365 answers a token it will not take for this mailbox with 535 5.7.3.
_XOAUTH2_REFUSED_HINT = (
    "the server refused the OAuth2 token for {mailbox}, also a new one; on Microsoft 365 the "
    "app's service principal needs rights on this mailbox and SMTP AUTH must be enabled for "
    "it (README, Microsoft 365)"
)


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


@dataclass
class Connection:
    """An open, signed-in connection, and the OAuth2 token it signed in with (XOAUTH2)."""

    smtp: smtplib.SMTP
    token: AccessToken | None = None


class SMTPOpener:
    """Makes signed-in connections to the configured relay. Raises smtplib/OSError errors as they
    come (the transport classifies them), and SendErrors for refusals it understands itself.

    With XOAUTH2 the tokens come from the process's shared TokenSource, made on first use: an
    unreachable token endpoint (or 5xx) is a TransientSendError, a refused client an
    SMTPConfigurationError.
    """

    def __init__(self, settings: Settings, peer: Peer) -> None:
        self._security = settings.smtp_security
        self._helo_name = settings.smtp_helo_name or None
        self._peer = peer
        self._tls_context = tls_context(settings)
        self._settings = settings
        self._xoauth2 = settings.smtp_auth == "xoauth2" and peer.username is not None
        self._source: TokenSource | None = None
        # A token AUTH refused even right after it was fetched: not renewed again for AUTH.
        self._refused: AccessToken | None = None

    def open(self) -> Connection:
        # The token first: no connection sits idle at the server while the endpoint answers.
        token = self.token() if self._xoauth2 else None
        opener = {
            "starttls": self._open_starttls,
            "tls": self._open_tls,
            "none": self._open_plaintext,
        }[self._security]
        smtp = opener()
        try:
            _no_delay(smtp)
            if token is not None:
                token = self._sign_in_xoauth2(smtp, token)
            elif self._peer.username is not None:
                self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        return Connection(smtp, token)

    # -- OAuth2 tokens -------------------------------------------------------------------

    def token(self) -> AccessToken:
        """The process's current access token; token endpoint errors as SendErrors."""
        return self._from_source(lambda source: source.token())

    def renew(self, rejected: AccessToken) -> AccessToken:
        """A new token in place of one the server refused."""
        return self._from_source(lambda source: source.renew(rejected))

    def _from_source(self, get: Callable[[TokenSource], AccessToken]) -> AccessToken:
        try:
            if self._source is None:
                self._source = shared_token_source(self._settings)
            return get(self._source)
        except TokenUnavailableError as exc:
            raise TransientSendError(Reply(None, str(exc))) from None
        except ConfigError as exc:  # TokenRefusedError, or a setting the source lacks
            raise SMTPConfigurationError(Reply(None, str(exc))) from None

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

    def _sign_in_xoauth2(self, smtp: smtplib.SMTP, token: AccessToken) -> AccessToken:
        """AUTH XOAUTH2; a 535 may mean the server knows better than our clock (the token expired
        early or was revoked), so a refused token is renewed once. Returns the token used."""
        mechanisms = smtp.esmtp_features.get("auth", "").upper().split()
        if "XOAUTH2" not in mechanisms:
            offered = " ".join(mechanisms) or "no AUTH at all"
            raise SMTPConfigurationError(
                Reply(
                    None,
                    f"{self._peer.where} does not offer AUTH XOAUTH2 (it offers {offered}); "
                    f"check DISTRIBUTIE_SMTP_AUTH",
                )
            )
        try:
            self._auth_xoauth2(smtp, token)
            return token
        except smtplib.SMTPAuthenticationError as exc:
            if not 500 <= exc.smtp_code <= 599 or token is self._refused:
                raise self._auth_refused(exc) from None
        renewed = self.renew(token)
        try:
            self._auth_xoauth2(smtp, renewed)
        except smtplib.SMTPAuthenticationError as exc:
            self._refused = renewed
            raise self._auth_refused(exc) from None
        return renewed

    def _auth_xoauth2(self, smtp: smtplib.SMTP, token: AccessToken) -> None:
        mailbox = self._peer.username or ""
        self._peer.remember(token.value, xoauth2_base64(mailbox, token))
        smtp.auth("XOAUTH2", xoauth2_authobject(mailbox, token), initial_response_ok=True)

    def _auth_refused(self, exc: smtplib.SMTPAuthenticationError) -> SendError:
        text = self._peer.redact(decode(exc.smtp_error))
        if 400 <= exc.smtp_code <= 499:
            return TransientSendError(Reply(exc.smtp_code, text))
        hint = _XOAUTH2_REFUSED_HINT.format(mailbox=self._peer.username)
        return SMTPConfigurationError(Reply(exc.smtp_code, f"{text}; {hint}"))
