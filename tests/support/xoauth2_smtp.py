"""A real SMTP server for tests that signs clients in as Microsoft 365 does: STARTTLS, then only
AUTH XOAUTH2 with a token that the test token endpoint (tests/support/oauth.py) issued and that
has not expired. Records messages like RecordingSMTPServer, of which it is a kind."""

from __future__ import annotations

import base64
import binascii
import collections
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult
from aiosmtpd.smtp import Envelope as ServerEnvelope
from aiosmtpd.smtp import Session as ServerSession

from distributie.settings import Settings
from tests.support.oauth import TokenEndpoint
from tests.support.smtp import (
    FaultPlan,
    RecordingSMTPServer,
    _Controller,
    _FaultySMTP,
    _Handler,
    _server_tls_context,
    hang_up,
)

__all__ = ["MAILBOX", "SignIn", "XOAuth2SMTPServer", "xoauth2_smtp_server"]

MAILBOX = "secretariaat@veiligheidscollege.example"
# Microsoft 365's replies.
AUTH_REFUSED = "535 5.7.3 Authentication unsuccessful"
NOT_SIGNED_IN = "530 5.7.57 Client not authenticated to send mail"
EXPIRED_421 = "421 4.7.0 Temporary server error: the session's access token expired"
# RFC 4954 §4: an AUTH command line may be up to 12288 octets (tokens are ~2 kB).
_AUTH_LINE = 12288


@dataclass(frozen=True)
class SignIn:
    """One AUTH XOAUTH2 attempt."""

    connection: int
    user: str
    token: str = field(repr=False)
    accepted: bool
    at: float  # time.monotonic()


class _XOAuth2SMTP(_FaultySMTP):
    line_length_limit = _AUTH_LINE + 2

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        # aiosmtpd keeps these limits in a dict shared by every session of every server:
        # this session gets its own.
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        self.command_size_limits["AUTH"] = _AUTH_LINE


class _XOAuth2Controller(_Controller):
    def factory(self) -> SMTP:
        return _XOAuth2SMTP(self.handler, **self.SMTP_kwargs)


class _XOAuth2Handler(_Handler):
    recorder: XOAuth2SMTPServer

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            blob = args[1]
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)  # aborted; already answered
            blob = base64.b64encode(answer).decode()
        user, token = _parse_xoauth2(blob)
        accepted = user == self.recorder.mailbox and self.recorder.endpoint.is_current(token)
        self.recorder._sign_in(getattr(server, "connection_id", 0), user, token, accepted)
        if accepted:
            return AuthResult(success=True, auth_data=token)
        return AuthResult(success=False, handled=False, message=self.recorder._refusal(token))

    async def handle_MAIL(
        self,
        server: SMTP,
        session: ServerSession,
        envelope: ServerEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if not session.authenticated:
            return NOT_SIGNED_IN
        token = session.auth_data
        current = isinstance(token, str) and self.recorder.endpoint.is_current(token)
        if not current or self.recorder.expire_sessions_at_mail:
            self.recorder._expired_session()
            if self.recorder.on_expired == "421":
                await server.push(EXPIRED_421)
                await hang_up(server)
            return self.recorder._refusal(str(token))
        return await super().handle_MAIL(server, session, envelope, address, mail_options)


def _parse_xoauth2(blob: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(blob, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    fields = dict(part.split("=", 1) for part in text.rstrip("\x01").split("\x01") if "=" in part)
    auth = fields.get("auth", "")
    token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
    return fields.get("user", ""), token


class XOAuth2SMTPServer(RecordingSMTPServer):
    """STARTTLS required; AUTH XOAUTH2 only (PLAIN and LOGIN are not offered), for `mailbox`
    with a token `endpoint` issued that is still current; MAIL without it gets 530.

    A signed-in session whose token has since expired gets, at its next MAIL command,
    `535 5.7.3 Authentication unsuccessful` (on_expired="535") or `421 4.7.0` and a closed
    connection (on_expired="421"), the two things Microsoft 365 does. With
    `expire_sessions_at_mail` every session is treated so, however new its token.
    With `echo_token_on_refusal` a refusal quotes the token back, as a careless server might.
    """

    def __init__(
        self,
        *,
        ca: trustme.CA,
        ca_file: Path,
        endpoint: TokenEndpoint,
        mailbox: str = MAILBOX,
        on_expired: Literal["535", "421"] = "535",
        plan: FaultPlan | None = None,
        echo_token_on_refusal: bool = False,
    ) -> None:
        super().__init__(security="starttls", ca=ca, ca_file=ca_file, plan=plan)
        self._controller.loop.close()  # the password server's controller, never started
        self.endpoint = endpoint
        self.mailbox = mailbox
        self.on_expired = on_expired
        self.expire_sessions_at_mail = False
        self.echo_token_on_refusal = echo_token_on_refusal
        self._auth_lock = threading.Lock()
        self._sign_ins: list[SignIn] = []
        self._expired_sessions = 0
        self._controller = _XOAuth2Controller(
            _XOAuth2Handler(self),
            server_hostname="localhost",
            enable_SMTPUTF8=True,
            tls_context=_server_tls_context(ca),
            require_starttls=True,
            auth_require_tls=True,
            auth_exclude_mechanism=["PLAIN", "LOGIN"],
        )

    def __enter__(self) -> XOAuth2SMTPServer:
        self.start()
        return self

    def __repr__(self) -> str:
        return f"XOAuth2SMTPServer({self.host}:{self.port}, on_expired={self.on_expired})"

    # -- what happened ---------------------------------------------------------------------

    @property
    def sign_ins(self) -> list[SignIn]:
        with self._auth_lock:
            return list(self._sign_ins)

    @property
    def expired_sessions(self) -> int:
        """How many times a session's token had expired at MAIL (answered 535 or 421)."""
        with self._auth_lock:
            return self._expired_sessions

    def _sign_in(self, connection: int, user: str, token: str, accepted: bool) -> None:
        with self._auth_lock:
            self._sign_ins.append(SignIn(connection, user, token, accepted, time.monotonic()))

    def _refusal(self, token: str) -> str:
        if self.echo_token_on_refusal:
            return f"{AUTH_REFUSED} (token {token!r} not accepted)"
        return AUTH_REFUSED

    def _expired_session(self) -> None:
        with self._auth_lock:
            self._expired_sessions += 1

    # -- client configuration --------------------------------------------------------------

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "smtp_auth": "xoauth2",
            "smtp_username": self.mailbox,
            **self.endpoint.settings_values(),
        }
        values.update(overrides)
        return super().settings(**values)

    def environ(self, timeout: float = 5.0) -> dict[str, str]:
        env = super().environ(timeout)
        env.update(self.endpoint.environ())
        env["DISTRIBUTIE_SMTP_AUTH"] = "xoauth2"
        env["DISTRIBUTIE_SMTP_USERNAME"] = self.mailbox
        return env


@pytest.fixture
def xoauth2_smtp_server(
    smtp_ca: trustme.CA, smtp_ca_file: Path, oauth_endpoint: TokenEndpoint
) -> Iterator[XOAuth2SMTPServer]:
    """STARTTLS + AUTH XOAUTH2 only, with tokens from the oauth_endpoint fixture (20 s)."""
    with XOAuth2SMTPServer(ca=smtp_ca, ca_file=smtp_ca_file, endpoint=oauth_endpoint) as server:
        yield server
