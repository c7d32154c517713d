"""Settings: read from DISTRIBUTIE_* variables and .env, validated, documented, never leaked."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from distributie.errors import ConfigError
from distributie.settings import RateLimit, Settings, is_loopback, load_settings, parse_rate

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("DISTRIBUTIE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(DISTRIBUTIE_[A-Z0-9_]+)` \|", README.read_text(), re.M))

    names = {f"DISTRIBUTIE_{name.upper()}" for name in Settings.model_fields}

    assert names == documented


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTRIBUTIE_SMTP_HOST", "smtp.example")
    monkeypatch.setenv("DISTRIBUTIE_MAX_ATTEMPTS", "9")

    settings = load_settings()

    assert settings.smtp_host == "smtp.example"
    assert settings.max_attempts == 9
    assert not settings.uses_outbox


def test_settings_come_from_a_dotenv_file_in_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISTRIBUTIE_RATE_LIMIT=30/m\n")

    assert load_settings().rate == RateLimit(30, 60.0)


def test_no_smtp_host_means_the_outbox() -> None:
    assert load_settings().uses_outbox


def test_the_port_follows_the_security_mode() -> None:
    assert load_settings(smtp_security="starttls").effective_smtp_port == 587
    assert load_settings(smtp_security="tls").effective_smtp_port == 465
    assert load_settings(smtp_security="none").effective_smtp_port == 25


def test_plaintext_to_a_remote_host_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="DISTRIBUTIE_SMTP_ALLOW_PLAINTEXT"):
        load_settings(smtp_host="smtp.example", smtp_security="none")


def test_plaintext_to_loopback_or_when_allowed_is_accepted() -> None:
    assert load_settings(smtp_host="127.0.0.1", smtp_security="none").smtp_host == "127.0.0.1"
    allowed = load_settings(
        smtp_host="smtp.example", smtp_security="none", smtp_allow_plaintext=True
    )
    assert allowed.smtp_security == "none"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["smtp.example", "10.0.0.1", "localhost.evil.example"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    ("text", "rate"),
    [("30/m", RateLimit(30, 60)), ("5/s", RateLimit(5, 1)), ("1000 / hour", RateLimit(1000, 3600))],
)
def test_rate_limits_are_parsed(text: str, rate: RateLimit) -> None:
    assert parse_rate(text) == rate


def test_a_bad_rate_limit_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="DISTRIBUTIE_RATE_LIMIT: '30 per minute'"):
        load_settings(rate_limit="30 per minute")


def test_secrets_are_not_in_the_repr() -> None:
    settings = load_settings(
        smtp_password="hunter2-smtp", redis_url="redis://:hunter2-redis@localhost:6379/0"
    )

    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)


def test_a_redis_url_of_another_scheme_is_refused_without_showing_it() -> None:
    with pytest.raises(
        ConfigError, match="DISTRIBUTIE_REDIS_URL: must start with redis://"
    ) as info:
        load_settings(redis_url="http://:geheim@host/")

    assert "geheim" not in str(info.value)
