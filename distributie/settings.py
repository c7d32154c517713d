"""All settings, from DISTRIBUTIE_* environment variables or a .env file; secrets never printed."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from distributie.errors import ConfigError
from distributie.mailing import BUNDLED_MAILING  # web page (issue 10): default mailings_dir

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

    # --- web page (issue 10) -------------------------------------------------------------------
    # The address people use to reach the page, through the HTTPS reverse proxy; setting it
    # allows a non-loopback --host, trusts the proxy's X-Forwarded-For/-Proto headers, and an
    # https URL makes the session cookie Secure.
    web_base_url: str | None = None
    web_session_hours: float = Field(default=8.0, gt=0)
    web_max_upload_bytes: int = Field(default=10_000_000, ge=1)
    # Every folder in it with a mailing.toml is a mailing the page offers.
    mailings_dir: Path = BUNDLED_MAILING.parent

    @field_validator("web_base_url")
    @classmethod
    def _web_base_url_form(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// address, not {value!r}")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(
                f"must be the root of a host, such as https://distributie.example.nl/ "
                f"(a sub-path is not supported), not {value!r}"
            )
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def web_secure_cookies(self) -> bool:
        return self.web_base_url is not None and self.web_base_url.startswith("https://")

    # --- end of web page settings --------------------------------------------------------------


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
