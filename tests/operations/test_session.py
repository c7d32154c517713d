"""Opening the ledger: the configured Redis, or the embedded one for the length of a session."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from distributie.errors import ConfigError
from distributie.operations.session import check_reachable, open_session, operator_name
from distributie.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_without_a_redis_url_a_private_redis_runs_for_the_session(tmp_path: Path) -> None:
    with open_session(_settings(data_dir=tmp_path / "data")) as session:
        session.ledger.client.set("distributie:probe", "1")
        assert session.embedded
        assert session.ledger.client.get("distributie:probe") == b"1"

    with open_session(_settings(data_dir=tmp_path / "data")) as again:
        assert again.ledger.client.get("distributie:probe") == b"1"  # kept in its AOF


def test_with_a_redis_url_that_redis_is_used(redis_url: str) -> None:
    with open_session(_settings(redis_url=SecretStr(redis_url))) as session:
        assert not session.embedded
        assert session.redis_url == redis_url


def test_an_unreachable_redis_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        check_reachable("redis://:geheim-wachtwoord@127.0.0.1:1/0")

    assert "cannot reach Redis at 127.0.0.1:1" in str(raised.value)
    assert "geheim-wachtwoord" not in str(raised.value)


def test_the_operator_is_who_is_named_or_the_os_user() -> None:
    assert operator_name("secretariaat") == "secretariaat"
    assert operator_name(None) not in ("", None)
