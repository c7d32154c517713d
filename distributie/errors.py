"""Errors a user can cause. The CLI turns each into a clear message and an exit code.

Anything that is not a DistributieError is a bug and may crash loudly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_LISTED_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located the way a secretary finds it in Excel."""

    file: str
    reason: str
    row: int | None = None  # as Excel shows it: the header is row 1
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = ", ".join(where) + f": {self.reason}"
        if self.value is not None:
            shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
            text += f" (value: {shown!r})"
        return text


class DistributieError(Exception):
    """Base of every error a user can cause."""

    exit_code = 1


class InputError(DistributieError):
    """The recipient list, mailing definition or templates are wrong; nothing was sent."""

    exit_code = 2

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self.report())

    def report(self) -> str:
        shown = self.problems[:MAX_LISTED_PROBLEMS]
        lines = [str(p) for p in shown]
        if len(self.problems) > len(shown):
            lines.append(
                f"... and {len(self.problems) - len(shown)} more problems "
                f"({len(self.problems)} in total)"
            )
        return "\n".join(lines)


class ConfigError(DistributieError):
    """A setting is wrong or missing (environment variable or .env file)."""

    exit_code = 2


class UsageError(DistributieError):
    """A command was asked something it cannot do, e.g. a run or gemeente that does not exist."""

    exit_code = 2


class LedgerError(DistributieError):
    """The ledger lacks something it must have (e.g. its data was lost with a Redis without AOF)."""

    exit_code = 2


class InvariantError(Exception):
    """distributie's own code broke a rule it relies on: a bug, never a user's doing.

    Deliberately not a DistributieError: it crashes loudly with a traceback.
    """
