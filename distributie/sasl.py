"""SASL XOAUTH2: the initial client response that signs a mailbox in with an OAuth2 access token,
for SMTP AUTH and IMAP AUTHENTICATE (tokens come from distributie/oauth.py)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from distributie.oauth import AccessToken

__all__ = ["XOAuth2Response", "xoauth2_authobject", "xoauth2_base64", "xoauth2_string"]


def xoauth2_string(mailbox: str, token: AccessToken) -> str:
    """The XOAUTH2 initial client response before base64: user=…^Aauth=Bearer …^A^A."""
    return f"user={mailbox}\x01auth=Bearer {token.value}\x01\x01"


def xoauth2_base64(mailbox: str, token: AccessToken) -> str:
    """The same, base64-encoded, as it goes on the wire after `AUTH XOAUTH2 `."""
    return base64.b64encode(xoauth2_string(mailbox, token).encode("utf-8")).decode("ascii")


class XOAuth2Response:
    """The XOAUTH2 authobject: `smtp.auth("XOAUTH2", r, initial_response_ok=True)` or
    `imap.authenticate("XOAUTH2", r.imap)`; both base64-encode what it returns.

    On a refusal the server first sends a challenge (an error in JSON); the answer to that is
    an empty line, after which the server gives its final 535 / NO.
    """

    __slots__ = ("_mailbox", "_token")

    def __init__(self, mailbox: str, token: AccessToken) -> None:
        self._mailbox = mailbox
        self._token = token

    @overload
    def __call__(self, challenge: None = None, /) -> str: ...
    @overload
    def __call__(self, challenge: bytes, /) -> str: ...
    def __call__(self, challenge: bytes | None = None, /) -> str:
        return "" if challenge else xoauth2_string(self._mailbox, self._token)

    def imap(self, challenge: bytes) -> bytes:
        return self(challenge).encode("utf-8")

    def __repr__(self) -> str:
        return f"XOAuth2Response({self._mailbox!r}, <hidden>)"


def xoauth2_authobject(mailbox: str, token: AccessToken) -> XOAuth2Response:
    """The authobject for smtplib.SMTP.auth and (its .imap) imaplib.IMAP4.authenticate."""
    return XOAuth2Response(mailbox, token)
