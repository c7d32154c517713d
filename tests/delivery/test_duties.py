"""Duties on a timer, done by one host at a time, against the suite's Redis."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from distributie.delivery.duties import Duty, DutyRunner


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_a_duty_runs_once_per_period_however_many_hosts_try(client: redis.Redis) -> None:
    runs: list[str] = []
    hosts = [DutyRunner(client, [], f"host-{n}:1") for n in range(5)]
    duty = Duty("probe", every=0.5, run=lambda: runs.append("ran"))

    done = [host.run_if_due(duty) for host in hosts]
    time.sleep(0.6)
    done += [host.run_if_due(duty) for host in hosts]

    assert done.count(True) == 2
    assert runs == ["ran", "ran"]


def test_a_failing_duty_does_not_stop_the_others(client: redis.Redis) -> None:
    ran = threading.Event()

    def broken() -> None:
        raise RuntimeError("boom")

    runner = DutyRunner(
        client,
        [Duty("broken", every=10, run=broken), Duty("fine", every=10, run=ran.set)],
        "host:1",
        tick=0.05,
    )
    runner.start()
    try:
        assert ran.wait(2)
    finally:
        runner.stop()
        runner.join(2)
    assert not runner.is_alive()


def test_duties_run_again_each_period_while_the_runner_lives(client: redis.Redis) -> None:
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1

    runner = DutyRunner(client, [Duty("tick", every=0.2, run=tick)], "host:1", tick=0.05)
    runner.start()
    time.sleep(1.1)
    runner.stop()
    runner.join(2)

    assert 4 <= count <= 7
