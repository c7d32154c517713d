"""All settings, from DISTRIBUTIE_* environment variables or a .env file; secrets never printed.

One class, `Settings`, made of one part per concern; the README's settings table lists every
name (a test compares the two).
"""

from __future__ import annotations

from pydantic import ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from distributie.errors import ConfigError
from distributie.settings.bounces import BounceSettings
from distributie.settings.core import CoreSettings
from distributie.settings.signin import SignInSettings
from distributie.settings.values import DEFAULT_PORTS, RateLimit, is_loopback, parse_rate
from distributie.settings.web import WebSettings

__all__ = [
    "DEFAULT_PORTS",
    "RateLimit",
    "Settings",
    "is_loopback",
    "load_settings",
    "parse_rate",
]


class Settings(CoreSettings, BounceSettings, SignInSettings, WebSettings):
    """Every setting distributie reads."""

    model_config = SettingsConfigDict(
        env_prefix="DISTRIBUTIE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        # A model validator's error would otherwise quote every input, passwords included.
        hide_input_in_errors=True,
    )

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
