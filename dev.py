"""Set up and run distributie on a machine that has only Python 3.11+ (no make needed).

    python3 dev.py run      the complete bundled mailing with embedded defaults, then its status
    python3 dev.py web      the web page (distributie web; extra arguments go to it)
    python3 dev.py test     lint, type checks and the test suite (what CI runs)
    python3 dev.py chaos    the long fault-injection runs
    python3 dev.py bench    the benchmark (extra arguments go to bench/run.py)
    python3 dev.py install  only set up .venv

The first call makes `.venv` beside this file and installs the project into it; later calls
reinstall only when pyproject.toml changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def install(extras: str) -> None:
    stamp = VENV / f".installed-{extras.replace(',', '-')}"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if not (BIN / "python").exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet"]
    call([*pip, "--upgrade", "pip"])
    call([*pip, "-e", f"{ROOT}[{extras}]"])
    stamp.touch()


def call(command: list[str]) -> None:
    code = subprocess.call(command)
    if code != 0:
        sys.exit(code)


def tool(name: str, *args: str) -> list[str]:
    return [str(BIN / name), *args]


def main(argv: list[str]) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script is what says so to an old Python
        sys.exit(f"distributie needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "install":
        install("dev")
    elif command == "run":
        install("dev")
        call(tool("distributie", "send", "--yes", *rest))
        call(tool("distributie", "status"))
    elif command == "web":
        install("dev")
        call(tool("distributie", "web", *rest))
    elif command == "test":
        install("dev")
        os.chdir(ROOT)
        call(tool("ruff", "check", "distributie", "tests", "bench", "dev.py"))
        call(tool("ruff", "format", "--check", "distributie", "tests", "bench", "dev.py"))
        call(tool("mypy"))
        call(tool("pytest", "-q", *rest))
    elif command == "chaos":
        install("dev")
        os.chdir(ROOT)
        call(tool("pytest", "-q", "-m", "chaos", *rest))
    elif command == "bench":
        install("dev,bench")
        os.chdir(ROOT)
        call(tool("python", "bench/run.py", *rest))
    else:
        print(__doc__)
        sys.exit(0 if command in ("help", "-h", "--help") else 2)


if __name__ == "__main__":
    main(sys.argv[1:])
