"""What one process can tell about others: whether a pid still runs, and who holds a claim."""

from __future__ import annotations

import os
import socket
from pathlib import Path


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


def holder_name() -> str:
    """This process as the ledger names holders of claims and connection slots: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def local_holder_dead(holder: str) -> bool:
    """Whether `holder` (host:pid) was a process on this host that no longer runs.

    Only a holder on this host can be seen to be gone; others keep their lease until it expires.
    """
    host, _, pid = holder.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))
