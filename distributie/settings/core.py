"""The settings every process reads: Redis, the relay, retries, limits, workers and logs."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from distributie.settings.values import DEFAULT_PORTS, RateLimit, is_loopback, parse_rate


class CoreSettings(BaseSettings):
    """Where the ledger lives, how mail leaves, and how hard distributie tries."""

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
    requeue_after: float = Field(default=600.0, gt=0)

    rate_limit: str | None = None
    daily_limit: int | None = Field(default=None, ge=1)
    timezone: str = "Europe/Amsterdam"

    # A second person approves every run before anything is sent (the vier-ogenprincipe).
    require_approval: bool = False

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
    def _plaintext_only_on_loopback(self) -> Self:
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
