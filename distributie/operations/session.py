"""A session with the ledger: the configured Redis, or the embedded private one for as long as
the command (or web server) that opened it runs."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis

from distributie.errors import ConfigError
from distributie.ledger import Ledger
from distributie.runtime.embedded import embedded_redis
from distributie.settings import Settings


@dataclass(frozen=True)
class Session:
    settings: Settings
    ledger: Ledger
    redis_url: str
    embedded: bool  # True: no DISTRIBUTIE_REDIS_URL; this command runs Redis (and workers)


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """The configured Redis, or the embedded private one under DISTRIBUTIE_DATA_DIR."""
    if settings.redis_url is not None:
        url = settings.redis_url.get_secret_value()
        check_reachable(url)
        ledger = Ledger.from_url(url)
        try:
            yield Session(settings, ledger, url, embedded=False)
        finally:
            ledger.client.close()
        return
    with embedded_redis(settings.data_dir.resolve()) as url:
        ledger = Ledger.from_url(url)
        try:
            yield Session(settings, ledger, url, embedded=True)
        finally:
            ledger.client.close()


def check_reachable(url: str) -> None:
    """Fail fast, and without the password, when the configured Redis cannot be used."""
    parts = urlsplit(url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.AuthenticationError:
        raise ConfigError(
            f"Redis at {where} refused the password in DISTRIBUTIE_REDIS_URL"
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        reason = type(exc).__name__ if url in str(exc) else str(exc)
        raise ConfigError(
            f"cannot reach Redis at {where} (DISTRIBUTIE_REDIS_URL): {reason}"
        ) from None
    finally:
        client.close()


def operator_name(by: str | None) -> str:
    """Who does something, as the ledger records it: --by, or the operating-system user."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
