"""All settings, from DISTRIBUTIE_* environment variables or a .env file; secrets never printed."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from distributie.errors import ConfigError

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$", re.IGNORECASE)
_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
}
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class RateLimit:
    """At most `count` messages in any window of `period` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        unit = {1: "s", 60: "m", 3600: "h"}.get(int(self.period), f"{self.period}s")
        return f"{self.count}/{unit}"


def parse_rate(text: str) -> RateLimit:
    match = _RATE_RE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate such as '30/m', '5/s' or '1000/h'")
    return RateLimit(int(match.group(1)), float(_PERIODS[match.group(2).lower()]))


def is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Every setting distributie reads. The README's settings table lists the same names."""

    model_config = SettingsConfigDict(
        env_prefix="DISTRIBUTIE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # A model validator's error would otherwise quote every input, passwords included.
        hide_input_in_errors=True,
    )

    # Where the ledger and the task queue live. Unset: a private Redis under data_dir.
    redis_url: SecretStr | None = None
    data_dir: Path = Path(".distributie")
    outbox_dir: Path = Path("outbox")

    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_ca_file: Path | None = None
    smtp_helo_name: str | None = None
    smtp_allow_plaintext: bool = False
    smtp_max_connections: int = Field(default=4, ge=1)

    max_attempts: int = Field(default=6, ge=1)
    retry_delay: float = Field(default=60.0, ge=0)
    retry_delay_max: float = Field(default=1800.0, ge=0)
    visibility_timeout: float = Field(default=3600.0, gt=0)
    send_lease: float = Field(default=300.0, gt=0)

    rate_limit: str | None = None
    daily_limit: int | None = Field(default=None, ge=1)
    timezone: str = "Europe/Amsterdam"

    max_message_bytes: int = Field(default=10_000_000, ge=1)
    worker_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    batch_size: int = Field(default=20, ge=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_rate(value)
            return value.strip()
        return None

    @field_validator("redis_url")
    @classmethod
    def _redis_url_form(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ("redis", "rediss", "unix"):
            # The URL may hold a password: name its scheme only.
            raise ValueError(
                f"must start with redis://, rediss:// or unix:// (it starts with {scheme!r})"
            )
        return value

    @field_validator("smtp_host", "smtp_username", "smtp_helo_name")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _plaintext_only_on_loopback(self) -> Settings:
        if (
            self.smtp_host
            and self.smtp_security == "none"
            and not self.smtp_allow_plaintext
            and not is_loopback(self.smtp_host)
        ):
            raise ValueError(
                f"DISTRIBUTIE_SMTP_SECURITY=none would send passwords and mail unencrypted to "
                f"{self.smtp_host}; use starttls or tls, or set "
                f"DISTRIBUTIE_SMTP_ALLOW_PLAINTEXT=true if that is really intended"
            )
        return self

    @cached_property
    def rate(self) -> RateLimit | None:
        return parse_rate(self.rate_limit) if self.rate_limit else None

    @property
    def effective_smtp_port(self) -> int:
        return self.smtp_port or DEFAULT_PORTS[self.smtp_security]

    @property
    def uses_outbox(self) -> bool:
        return self.smtp_host is None

    # --- bounce mailbox (issue 12) -------------------------------------------------------------
    # Where bounces and auto-replies arrive. Unset host: no bounce processing.
    bounce_imap_host: str | None = None
    bounce_imap_port: int | None = Field(default=None, ge=1, le=65535)
    bounce_imap_security: Literal["tls", "starttls", "none"] = "tls"
    bounce_imap_username: str | None = None
    bounce_imap_password: SecretStr | None = None
    bounce_imap_folder: str = "INBOX"
    bounce_imap_ca_file: Path | None = None
    bounce_imap_auth: Literal["password", "xoauth2"] = "password"
    bounce_poll_seconds: float = Field(default=60.0, gt=0)
    bounce_match_days: int = Field(default=14, ge=1)

    @field_validator("bounce_imap_host", "bounce_imap_username")
    @classmethod
    def _bounce_empty_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("bounce_imap_folder")
    @classmethod
    def _bounce_folder_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a folder, e.g. INBOX")
        return value.strip()

    @model_validator(mode="after")
    def _bounce_mailbox_complete(self) -> Settings:
        if not self.bounce_imap_host:
            return self
        if self.bounce_imap_security == "none" and not is_loopback(self.bounce_imap_host):
            raise ValueError(
                f"DISTRIBUTIE_BOUNCE_IMAP_SECURITY=none would send the mailbox password and the "
                f"reports unencrypted to {self.bounce_imap_host}; use tls or starttls"
            )
        if not self.bounce_imap_username:
            raise ValueError(
                "DISTRIBUTIE_BOUNCE_IMAP_USERNAME is required when DISTRIBUTIE_BOUNCE_IMAP_HOST "
                "is set"
            )
        if self.bounce_imap_auth == "password" and not (
            self.bounce_imap_password and self.bounce_imap_password.get_secret_value()
        ):
            raise ValueError(
                "DISTRIBUTIE_BOUNCE_IMAP_PASSWORD is required when DISTRIBUTIE_BOUNCE_IMAP_AUTH "
                "is password"
            )
        return self

    @property
    def effective_bounce_imap_port(self) -> int:
        # Implicit TLS on 993; STARTTLS and plaintext on 143.
        default = 993 if self.bounce_imap_security == "tls" else 143
        return self.bounce_imap_port or default

    @property
    def uses_bounce_mailbox(self) -> bool:
        return self.bounce_imap_host is not None

    # --- end of bounce mailbox -----------------------------------------------------------------

    # --- Microsoft 365 sign-in (OAuth2, XOAUTH2) and DKIM signing (issue 13) ----------------
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
    def _xoauth2_complete(self) -> Settings:
        if self.smtp_auth == "xoauth2":
            needs = {
                "smtp_username": self.smtp_username,  # the mailbox that sends
                "oauth_client_id": self.oauth_client_id,
                "oauth_client_secret": self.oauth_client_secret,
            }
            if "{tenant}" in self.oauth_token_url:
                needs["oauth_tenant"] = self.oauth_tenant
            self._require("DISTRIBUTIE_SMTP_AUTH=xoauth2", needs)
        return self

    @model_validator(mode="after")
    def _dkim_complete(self) -> Settings:
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

    # --- end of the issue 13 block ----------------------------------------------------------


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a bad value into a ConfigError that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "DISTRIBUTIE_" + "_".join(str(p) for p in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}" if error["loc"] else message)
        raise ConfigError("invalid settings:\n" + "\n".join(lines)) from None
