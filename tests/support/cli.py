"""The `distributie` command as a user runs it: a real process with only the given settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["distributie"]


def distributie(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m distributie ARGS` with `env` as its only DISTRIBUTIE_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "distributie", *args],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
