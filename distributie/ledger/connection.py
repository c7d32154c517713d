"""The Redis client every part of distributie uses for the ledger, and decoding its replies."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def connect(url: str) -> redis.Redis:
    """A client that rides out a Redis restart (about 30 s) instead of failing a send.

    Retrying a script whose reply was lost is safe: every script checks the state it changes.
    """
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=40),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError],
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=30,
    )


def text(value: bytes | str | None) -> str:
    """A Redis reply as text ("" for a missing value)."""
    if value is None:
        return ""
    return value.decode("utf-8") if isinstance(value, bytes) else value
