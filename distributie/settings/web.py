"""The settings of the web page: its public address, sessions, uploads and where mailings are."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from distributie.compose.mailing import BUNDLED_MAILING


class WebSettings(BaseSettings):
    """`distributie web`: what the secretariat's browser reaches, and for how long."""

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
