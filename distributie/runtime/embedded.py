"""The embedded default: a private Redis under DISTRIBUTIE_DATA_DIR, shared by every distributie
command that runs at the same time in that folder and stopped when the last one leaves.

When DISTRIBUTIE_REDIS_URL is unset, every CLI command runs `embedded_redis(data_dir)`, which
starts `redis-server` on a unix socket under `data_dir/redis/` (or loopback TCP when the socket
path would be too long) with the append-only file on, so the ledger survives restarts and
crashes. Commands that overlap in time (`distributie status` in a second terminal while
`distributie send` runs) share one server; the last command to leave stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import redis

from distributie.runtime.processes import pid_alive
from distributie.runtime.redis_server import POLL, RedisServer, RedisServerError, answers

_STATE_NAME = "server.json"
_START_LOCK_NAME = "start.lock"
_USERS_LOCK_NAME = "users.lock"

# Servers this process started inside embedded_redis but left running for another command.
# Holding the Popen avoids a ResourceWarning and lets us reap the process once it exits.
_handed_over: list[subprocess.Popen[bytes]] = []


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
    if answers(url):
        return url
    pid = state.get("server_pid")
    if not (isinstance(pid, int) and _our_server_alive(pid, redis_dir)):
        return None
    # Alive but silent: a second server on the same AOF would corrupt it, so wait.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        if answers(url):
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
        time.sleep(POLL)
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
                server.kill()
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
            if isinstance(url, str) and answers(url):
                _stop_foreign(url, pid if isinstance(pid, int) else None, timeout)
            elif isinstance(pid, int) and _our_server_alive(pid, redis_dir):
                return  # alive but silent: keep the record so nobody starts a second one
            state_path.unlink(missing_ok=True)
        finally:
            fcntl.flock(probe, fcntl.LOCK_UN)
