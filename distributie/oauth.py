"""OAuth2 client-credentials tokens (RFC 6749 §4.4) for XOAUTH2 sign-in to SMTP and IMAP.

A token is reused until shortly before it expires, so a process asks once per token lifetime.
`shared_token_source(settings)` gives every user in a process (the SMTP transport, the bounce
mailbox) the same source; the SASL response itself is in distributie/sasl.py.
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote_plus, urlsplit

from pydantic import SecretStr

from distributie import __version__

if TYPE_CHECKING:
    import httpx2
from distributie.errors import ConfigError, DistributieError
from distributie.sasl import XOAuth2Response, xoauth2_authobject, xoauth2_base64, xoauth2_string
from distributie.settings import Settings, is_loopback

__all__ = [
    "DEFAULT_SCOPE",
    "DEFAULT_TOKEN_URL",
    "AccessToken",
    "TokenError",
    "TokenRefusedError",
    "TokenSource",
    "TokenUnavailableError",
    "XOAuth2Response",
    "shared_token_source",
    "xoauth2_authobject",
    "xoauth2_base64",
    "xoauth2_string",
]

log = logging.getLogger(__name__)

DEFAULT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
DEFAULT_SCOPE = "https://outlook.office365.com/.default"
# A token is renewed this long before it expires, or a tenth of its lifetime when that is less.
RENEW_BEFORE = 300.0
# When the answer has no expires_in (RFC 6749 only recommends it): Microsoft's usual hour.
DEFAULT_LIFETIME = 3600.0
# Statuses that say "later" rather than "never".
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
# OAuth error codes a token endpoint may give for its own trouble (RFC 6749 §4.1.2.1).
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
_MAX_REASON = 200


class TokenError(DistributieError):
    """No access token could be had. The message is one line and never holds a secret."""


class TokenUnavailableError(TokenError):
    """The token endpoint is unreachable, timed out or answered 5xx: try again later."""


class TokenRefusedError(TokenError, ConfigError):
    """The token endpoint refused the client or the request (invalid_client, unauthorized_client,
    another 4xx), or its certificate failed: a setting is wrong. Exit code 2."""


class AccessToken:
    """A bearer token and when it was obtained. Its repr and str never show the token."""

    __slots__ = ("_value", "lifetime", "obtained_at")

    def __init__(self, value: str, lifetime: float, obtained_at: float) -> None:
        self._value = value
        self.lifetime = lifetime
        self.obtained_at = obtained_at  # time.monotonic() when it was asked for

    @property
    def value(self) -> str:
        return self._value

    @property
    def renew_at(self) -> float:
        """time.monotonic() from which a new token is fetched instead of this one."""
        return self.obtained_at + self.lifetime - min(RENEW_BEFORE, self.lifetime / 10)

    def is_fresh(self) -> bool:
        return time.monotonic() < self.renew_at

    def __repr__(self) -> str:
        return f"AccessToken(<hidden>, lifetime={self.lifetime:g}s)"

    __str__ = __repr__


def check_token_url(url: str) -> None:
    """Raise ConfigError unless the URL is https, or http to a loopback host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
        raise ConfigError(
            "DISTRIBUTIE_OAUTH_TOKEN_URL: must be an https:// URL (http:// only to a loopback "
            "host): the client secret is sent there"
        )


class TokenSource:
    """Access tokens for one client, shared by every thread of a process.

    `token()` returns the current token, fetching a new one only when there is none or it is
    within min(5 minutes, a tenth of its lifetime) of expiring; threads wait for one fetch
    instead of each making their own. `renew(rejected)` is for a server that refused a token:
    it fetches a new one unless another thread already replaced that token.
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        scope: str = DEFAULT_SCOPE,
        timeout: float = 30.0,
        ca_file: Path | None = None,
    ) -> None:
        check_token_url(token_url)
        self._url = token_url
        parts = urlsplit(token_url)
        self._where = parts.netloc.rpartition("@")[2]
        self._client_id = client_id
        self._secret = client_secret
        self._scope = scope
        self._timeout = timeout
        self._ca_file = ca_file
        self._tls = self._tls_context() if parts.scheme == "https" else None
        self._token: AccessToken | None = None
        self._requests = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenSource:
        if not settings.oauth_client_id or settings.oauth_client_secret is None:
            raise ConfigError(
                "DISTRIBUTIE_OAUTH_CLIENT_ID and DISTRIBUTIE_OAUTH_CLIENT_SECRET are needed "
                "for an OAuth2 sign-in"
            )
        if "{tenant}" in settings.oauth_token_url and not settings.oauth_tenant:
            raise ConfigError("DISTRIBUTIE_OAUTH_TENANT is needed for the token URL")
        return cls(
            token_url=settings.oauth_token_endpoint,
            client_id=settings.oauth_client_id,
            client_secret=settings.oauth_client_secret,
            scope=settings.oauth_scope,
            timeout=settings.smtp_timeout,
            ca_file=settings.oauth_ca_file,
        )

    def __repr__(self) -> str:
        return f"TokenSource({self._where}, client_id={self._client_id!r})"

    @property
    def requests(self) -> int:
        """How many token requests this process made (successful or not)."""
        return self._requests

    def token(self) -> AccessToken:
        """A token that is still well within its lifetime."""
        current = self._token
        if current is not None and current.is_fresh():
            return current
        with self._process_lock():
            current = self._token
            if current is not None and current.is_fresh():
                return current  # another thread fetched it while this one waited
            self._token = self._fetch()
            return self._token

    def access_token(self) -> str:
        """The current token's value: what BounceMailbox(access_token=...) calls at each login."""
        return self.token().value

    def renew(self, rejected: AccessToken) -> AccessToken:
        """A new token in place of one a server refused (it expired early or was revoked)."""
        with self._process_lock():
            current = self._token
            if current is not None and current is not rejected and current.is_fresh():
                return current
            self._token = self._fetch()
            return self._token

    def forget(self) -> None:
        """Drop the current token: the next token() fetches a new one."""
        with self._process_lock():
            self._token = None

    # -- fetching ----------------------------------------------------------------------------

    def _process_lock(self) -> threading.Lock:
        # A lock inherited through fork() may be held by a thread that does not exist in the
        # child (Celery's prefork pool): each process gets its own.
        if self._pid != os.getpid():
            self._lock = threading.Lock()
            self._pid = os.getpid()
            self._requests = 0  # the token itself stays: it is as good here as in the parent
        return self._lock

    def _tls_context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=str(self._ca_file) if self._ca_file else None)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(
                f"DISTRIBUTIE_OAUTH_CA_FILE: cannot load {self._ca_file}: {reason}"
            ) from None

    def _fetch(self) -> AccessToken:
        # authlib and httpx take a third of a second to import: only when a token is needed.
        import httpx2
        from authlib.integrations.httpx_client import OAuth2Client
        from authlib.integrations.httpx_client import OAuthError as AuthlibOAuthError

        self._requests += 1
        started = time.monotonic()
        try:
            with OAuth2Client(
                client_id=self._client_id,
                client_secret=self._secret.get_secret_value(),
                scope=self._scope,
                # As Microsoft documents it: the secret in the form body, not in a Basic header.
                token_endpoint_auth_method="client_secret_post",
                timeout=self._timeout,
                # Plain http (loopback only) has no certificate to verify.
                verify=self._tls if self._tls is not None else False,
                # Which process asks: the endpoint's log (and a test) can count per process.
                headers={"User-Agent": f"distributie/{__version__} (pid {os.getpid()})"},
            ) as client:
                client.register_compliance_hook("access_token_response", self._check_status)
                answer = client.fetch_token(self._url, grant_type="client_credentials")
        except TokenError:
            raise
        except AuthlibOAuthError as exc:
            self._refused(exc.error, exc.description)
        except httpx2.HTTPStatusError as exc:
            # A 4xx whose body is not an OAuth error: most likely the wrong URL.
            raise TokenRefusedError(
                f"the token endpoint {self._where} answered HTTP {exc.response.status_code} "
                f"without an OAuth2 error; check DISTRIBUTIE_OAUTH_TOKEN_URL"
            ) from None
        except httpx2.TimeoutException:
            raise TokenUnavailableError(
                f"the token endpoint {self._where} did not answer within {self._timeout:g} s"
            ) from None
        except httpx2.TransportError as exc:
            self._unreachable(exc)
        except ValueError:
            raise TokenRefusedError(
                f"the token endpoint {self._where} did not answer with JSON; "
                f"check DISTRIBUTIE_OAUTH_TOKEN_URL"
            ) from None
        token = self._parse(answer, started)
        log.info(
            "new OAuth2 access token from %s, valid %g s (request %d of this process)",
            self._where,
            token.lifetime,
            self._requests,
        )
        return token

    def _check_status(self, response: httpx2.Response) -> httpx2.Response:
        status = response.status_code
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise TokenUnavailableError(
                f"the token endpoint {self._where} answered HTTP {status}; will try again"
            )
        return response

    def _parse(self, answer: Any, started: float) -> AccessToken:
        value = answer.get("access_token") if isinstance(answer, dict) else None
        kind = str(answer.get("token_type", "bearer")) if isinstance(answer, dict) else ""
        if not isinstance(value, str) or not value or kind.lower() != "bearer":
            raise TokenRefusedError(
                f"the token endpoint {self._where} answered without a bearer access token"
            )
        try:
            lifetime = float(answer.get("expires_in", DEFAULT_LIFETIME))
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME
        if not lifetime > 0:
            raise TokenRefusedError(
                f"the token endpoint {self._where} answered with a token that has expired"
            )
        # Counted from before the request went out: never later than the server's own clock.
        return AccessToken(value, lifetime, started)

    def _refused(self, error: object, description: object) -> NoReturn:
        code = str(error or "unknown_error")
        reason = self._one_line(str(description or ""))
        text = f"{code}: {reason}" if reason else code
        if code in _TRANSIENT_ERRORS:
            raise TokenUnavailableError(
                f"the token endpoint {self._where} is in trouble ({text}); will try again"
            ) from None
        hint = {
            "invalid_client": "check DISTRIBUTIE_OAUTH_CLIENT_ID and _CLIENT_SECRET",
            "unauthorized_client": "the app registration may not use this grant",
            "invalid_scope": "check DISTRIBUTIE_OAUTH_SCOPE",
            "invalid_request": "check DISTRIBUTIE_OAUTH_TENANT and _TOKEN_URL",
        }.get(code)
        raise TokenRefusedError(
            f"the token endpoint {self._where} refused the client ({text})"
            + (f"; {hint}" if hint else "")
        ) from None

    def _unreachable(self, exc: httpx2.TransportError) -> NoReturn:
        verification = _cause(exc, ssl.SSLCertVerificationError)
        if verification is not None:
            reason = verification.verify_message or "the certificate is not trusted"
            raise TokenRefusedError(
                f"TLS certificate verification failed for the token endpoint {self._where}: "
                f"{reason} (DISTRIBUTIE_OAUTH_CA_FILE)"
            ) from None
        reason = self._one_line(str(exc)) or type(exc).__name__
        raise TokenUnavailableError(
            f"the token endpoint {self._where} is unreachable: {reason}"
        ) from None

    def _one_line(self, text: str) -> str:
        """The first line of a server's text, without anything secret, at most 200 characters."""
        line = text.strip().splitlines()[0].strip() if text.strip() else ""
        for secret in self._secrets():
            line = line.replace(secret, "***")
        return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."

    def _secrets(self) -> Iterator[str]:
        secret = self._secret.get_secret_value()
        if secret:
            yield secret
            yield quote_plus(secret)
        if self._token is not None:
            yield self._token.value


def _cause(exc: BaseException, kind: type[ssl.SSLCertVerificationError]) -> Any:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


_shared: dict[tuple[object, ...], TokenSource] = {}
_shared_lock = threading.Lock()


def shared_token_source(settings: Settings) -> TokenSource:
    """The one TokenSource of this process for these settings' client, made on first use: SMTP
    and IMAP (the same scope serves both on Microsoft 365) then share one token."""
    secret = settings.oauth_client_secret.get_secret_value() if settings.oauth_client_secret else ""
    key = (
        settings.oauth_token_endpoint,
        settings.oauth_client_id,
        hashlib.sha256(secret.encode()).hexdigest(),  # a changed secret is another client
        settings.oauth_scope,
        settings.oauth_ca_file,
        settings.smtp_timeout,
    )
    with _shared_lock:
        source = _shared.get(key)
        if source is None:
            source = _shared[key] = TokenSource.from_settings(settings)
        return source
