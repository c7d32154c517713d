"""Trying the OAuth2 sign-in (DISTRIBUTIE_SMTP_AUTH=xoauth2) before anything is sent: a token from
the token endpoint, then AUTH XOAUTH2 at the SMTP server. What `check` and `ping` report.

A refusal is a setting to fix (SignInRefusedError, exit code 2); an endpoint or server that does
not answer now is SignInUnavailableError (exit code 1). Both say it in one line, never with the
client secret or a token in it.
"""

from __future__ import annotations

import contextlib
import smtplib
from dataclasses import dataclass

from distributie.delivery.transport import SendError, SMTPConfigurationError
from distributie.delivery.transport.classify import Peer, chainable
from distributie.delivery.transport.smtp_open import SMTPOpener
from distributie.errors import ConfigError, DistributieError
from distributie.settings import Settings

__all__ = ["SignIn", "SignInRefusedError", "SignInUnavailableError", "try_sign_in"]


class SignInRefusedError(ConfigError):
    """The token endpoint or the SMTP server refused the sign-in: a setting is wrong."""


class SignInUnavailableError(DistributieError):
    """The sign-in could not be tried now (endpoint or server unreachable, 5xx, 4xx)."""


@dataclass(frozen=True)
class SignIn:
    """A sign-in that worked."""

    mailbox: str
    token_lifetime: float  # seconds the token was given for
    smtp: str | None  # host:port signed in at; None without an SMTP server (the outbox)


def try_sign_in(settings: Settings) -> SignIn | None:
    """Sign in as the workers will; None when the settings do not use OAuth2."""
    if settings.smtp_auth != "xoauth2" or settings.smtp_username is None:
        return None
    # authlib and httpx are slow to import; only a deployment that signs in with OAuth2 needs them.
    from distributie.oauth import TokenUnavailableError, shared_token_source

    mailbox = settings.smtp_username
    what = f"the OAuth2 sign-in for {mailbox}"
    try:
        token = shared_token_source(settings).token()
    except TokenUnavailableError as exc:
        raise SignInUnavailableError(f"{what} could not be tried: {exc}") from None
    except ConfigError as exc:  # TokenRefusedError, or a setting the token request lacks
        raise SignInRefusedError(f"{what} failed: {exc}") from None
    if settings.uses_outbox:
        return SignIn(mailbox, token.lifetime, None)
    peer = Peer.from_settings(settings)
    try:
        connection = SMTPOpener(settings, peer).open()
    except (SendError, OSError, smtplib.SMTPException) as exc:
        error = peer.error_for_exception(exc, connecting=True)
        reason = f"{peer.where} answered {error}" if error.reply.code else str(error)
        if isinstance(error, SMTPConfigurationError):
            raise SignInRefusedError(f"{what} failed: {reason}") from chainable(exc)
        raise SignInUnavailableError(f"{what} could not be tried: {reason}") from chainable(exc)
    with contextlib.suppress(smtplib.SMTPException, OSError):
        connection.smtp.quit()
    connection.smtp.close()
    return SignIn(mailbox, token.lifetime, peer.where)
