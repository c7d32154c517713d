"""The cap on SMTP connections across processes, against the suite's Redis."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
import redis

from distributie.delivery.throttle import RedisConnectionGate
from distributie.delivery.transport import TransientSendError


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def _gate(client: redis.Redis, holder: str, **options: float) -> RedisConnectionGate:
    return RedisConnectionGate(client, holder, limit=1, **options)  # type: ignore[arg-type]


def test_no_more_holders_than_the_limit_get_a_slot(client: redis.Redis) -> None:
    _gate(client, "host:1").acquire()

    with pytest.raises(TransientSendError, match="all 1 SMTP connections"):
        _gate(client, "host:2", wait=0.3).acquire()


def test_a_released_slot_goes_to_the_next_holder(client: redis.Redis) -> None:
    first = _gate(client, "host:1")
    first.acquire()
    first.release()

    _gate(client, "host:2", wait=0.3).acquire()


def test_a_slot_not_kept_expires_and_is_free_again(client: redis.Redis) -> None:
    first = _gate(client, "host:1", ttl=0.3)
    first.acquire()
    time.sleep(0.4)

    _gate(client, "host:2", wait=0.3).acquire()
    time.sleep(0.15)  # keep() talks to Redis at most every ttl/3
    assert first.keep() is False


def test_a_kept_slot_stays_taken(client: redis.Redis) -> None:
    first = _gate(client, "host:1", ttl=0.6)
    first.acquire()
    for _ in range(4):
        time.sleep(0.25)
        assert first.keep() is True

    with pytest.raises(TransientSendError):
        _gate(client, "host:2", wait=0.2).acquire()


def test_the_slot_of_a_dead_process_on_this_host_is_freed_at_once(client: redis.Redis) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    _gate(client, f"{socket.gethostname()}:{process.pid}", ttl=60).acquire()

    started = time.monotonic()
    _gate(client, f"{socket.gethostname()}:1", wait=5).acquire()

    assert time.monotonic() - started < 1


def test_a_holder_sees_that_another_process_waits(client: redis.Redis) -> None:
    holder = _gate(client, "host:1")
    holder.acquire()
    assert holder.others_waiting() is False

    def wait_in_vain() -> None:
        with pytest.raises(TransientSendError):
            _gate(client, "host:2", wait=1).acquire()

    waiter = threading.Thread(target=wait_in_vain)
    waiter.start()
    time.sleep(0.3)
    try:
        assert holder.others_waiting() is True
    finally:
        waiter.join()
