"""The settings of the bounce mailbox, where bounces and auto-replies arrive (IMAP)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from distributie.settings.values import is_loopback


class BounceSettings(BaseSettings):
    """Where bounces and auto-replies arrive. Unset host: no bounce processing."""

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
    def _bounce_mailbox_complete(self) -> Self:
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
