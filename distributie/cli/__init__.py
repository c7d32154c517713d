"""The `distributie` command: parses options, calls `operations`, prints, and sets the exit code.

Exit codes: 0 success; 1 a run ended with recipients failed, unknown or cancelled; 2 invalid
input, settings or usage. A user's mistake never shows a traceback.
"""

from distributie.cli import (  # noqa: F401  (they register their commands)
    archive,
    bounces,
    control,
    dkim,
    mailing,
    runs,
    sending,
    users,
    web,
    workers,
)
from distributie.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli()
