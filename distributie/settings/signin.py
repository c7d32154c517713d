"""The settings of signing in with OAuth2 (Microsoft 365, XOAUTH2) and of DKIM signing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from distributie.settings.values import is_loopback


class SignInSettings(BaseSettings):
    """The OAuth2 client (token code in distributie/oauth.py) and the DKIM signer's key
    (compose/dkim.py)."""

    # The token code (distributie/oauth.py) and the signer (distributie/compose/dkim.py) read these.
    smtp_auth: Literal["password", "xoauth2"] = "password"
    oauth_tenant: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: SecretStr | None = None
    oauth_token_url: str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    oauth_scope: str = "https://outlook.office365.com/.default"
    oauth_ca_file: Path | None = None
    dkim_selector: str | None = None
    dkim_domain: str | None = None  # None: the domain of the mailing's From address
    dkim_key_file: Path | None = None
    dkim_ed25519_key_file: Path | None = None

    # An Entra ID tenant (GUID or domain); a DKIM selector or domain.
    _TENANT_RE: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$")
    _DNS_NAME_RE: ClassVar[re.Pattern[str]] = re.compile(
        r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$"
    )

    @staticmethod
    def _require(what: str, needs: Mapping[str, object]) -> None:
        missing = [f"DISTRIBUTIE_{name.upper()}" for name, value in needs.items() if not value]
        if missing:
            raise ValueError(f"{what} also needs {', '.join(missing)}")

    @field_validator("oauth_tenant", "oauth_client_id", "dkim_selector", "dkim_domain")
    @classmethod
    def _oauth_dkim_empty_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("oauth_tenant")
    @classmethod
    def _tenant_form(cls, value: str | None) -> str | None:
        # It becomes part of the token URL's path: a GUID or a domain, nothing else.
        if value is not None and not cls._TENANT_RE.match(value):
            raise ValueError("must be the tenant's id (a GUID) or its domain name")
        return value

    @field_validator("oauth_token_url")
    @classmethod
    def _token_url_https_or_loopback(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        host = parts.hostname or ""
        if parts.scheme == "https" and host:
            return value
        if parts.scheme == "http" and is_loopback(host):
            return value
        # The client secret goes to this URL: never over plain http to another machine.
        raise ValueError("must be an https:// URL (http:// only to a loopback host)")

    @field_validator("dkim_selector")
    @classmethod
    def _selector_form(cls, value: str | None) -> str | None:
        if value is not None and not cls._DNS_NAME_RE.match(value):
            raise ValueError("must be a DNS label such as 'distributie2026' (letters, digits, -)")
        return value

    @field_validator("dkim_domain")
    @classmethod
    def _dkim_domain_form(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.lower().rstrip(".")
            if "." not in value or not cls._DNS_NAME_RE.match(value):
                raise ValueError("must be a domain name such as 'veiligheidscollege-mn.nl'")
        return value

    @model_validator(mode="after")
    def _dkim_complete(self) -> Self:
        if any((self.dkim_selector, self.dkim_key_file, self.dkim_domain)) or (
            self.dkim_ed25519_key_file
        ):
            # Gmail and Outlook do not verify ed25519 alone: an RSA key is always needed.
            self._require(
                "DKIM signing",
                {"dkim_selector": self.dkim_selector, "dkim_key_file": self.dkim_key_file},
            )
        return self

    @property
    def oauth_token_endpoint(self) -> str:
        """The token URL with the tenant filled in."""
        return self.oauth_token_url.replace("{tenant}", self.oauth_tenant or "")
