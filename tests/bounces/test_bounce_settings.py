"""The DISTRIBUTIE_BOUNCE_* settings: defaults, the port by security mode, and what is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distributie.errors import ConfigError
from distributie.settings import load_settings

COMPLETE = {
    "bounce_imap_host": "imap.veiligheidscollege-mn.example",
    "bounce_imap_username": "secretariaat@veiligheidscollege-mn.example",
    "bounce_imap_password": "Geheim-IMAP-99",
}


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("DISTRIBUTIE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_without_a_host_there_is_no_bounce_mailbox_and_nothing_else_is_required() -> None:
    settings = load_settings()

    assert not settings.uses_bounce_mailbox
    assert (settings.bounce_imap_security, settings.bounce_imap_folder) == ("tls", "INBOX")
    assert (settings.bounce_poll_seconds, settings.bounce_match_days) == (60, 14)


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTRIBUTIE_BOUNCE_IMAP_HOST", "imap.example")
    monkeypatch.setenv("DISTRIBUTIE_BOUNCE_IMAP_USERNAME", "bounces")
    monkeypatch.setenv("DISTRIBUTIE_BOUNCE_IMAP_PASSWORD", "pw")
    monkeypatch.setenv("DISTRIBUTIE_BOUNCE_IMAP_FOLDER", "Retour")

    settings = load_settings()

    assert settings.uses_bounce_mailbox
    assert settings.bounce_imap_folder == "Retour"


@pytest.mark.parametrize(("security", "port"), [("tls", 993), ("starttls", 143), ("none", 143)])
def test_the_port_follows_the_security_mode(security: str, port: int) -> None:
    values = {**COMPLETE, "bounce_imap_host": "127.0.0.1", "bounce_imap_security": security}

    assert load_settings(**values).effective_bounce_imap_port == port


def test_plaintext_to_a_remote_mailbox_is_refused() -> None:
    with pytest.raises(ConfigError, match="DISTRIBUTIE_BOUNCE_IMAP_SECURITY=none"):
        load_settings(**COMPLETE, bounce_imap_security="none")


def test_a_host_without_a_username_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="DISTRIBUTIE_BOUNCE_IMAP_USERNAME is required"):
        load_settings(bounce_imap_host="imap.example", bounce_imap_password="pw")


def test_password_login_without_a_password_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="DISTRIBUTIE_BOUNCE_IMAP_PASSWORD is required"):
        load_settings(bounce_imap_host="imap.example", bounce_imap_username="bounces")


def test_xoauth2_needs_no_password() -> None:
    settings = load_settings(
        bounce_imap_host="outlook.office365.example",
        bounce_imap_username="secretariaat@veiligheidscollege-mn.example",
        bounce_imap_auth="xoauth2",
    )

    assert settings.bounce_imap_auth == "xoauth2"


def test_the_imap_password_is_not_in_the_repr_nor_in_errors() -> None:
    settings = load_settings(**COMPLETE)
    with pytest.raises(ConfigError) as info:
        load_settings(**COMPLETE, bounce_imap_security="none")

    assert "Geheim-IMAP-99" not in repr(settings)
    assert "Geheim-IMAP-99" not in str(info.value)
