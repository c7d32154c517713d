"""The typer app every command registers on, and what commands share: the consoles, turning a
user's mistake into a message and an exit code, and the common options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from distributie import states
from distributie.errors import DistributieError, InputError, UsageError
from distributie.operations.describe import outbox_notice
from distributie.runtime.logs import configure_logging
from distributie.settings import Settings, load_settings

# Markup off: subjects, names and paths are data and may contain [brackets].
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

cli = typer.Typer(
    name="distributie",
    help="Personal e-mails with a personalised attachment to every burgemeester of a region.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

MailingOption = Annotated[
    Path,
    typer.Option("--mailing", help="Folder with mailing.toml and its templates."),
]
RecipientsOption = Annotated[
    Path | None,
    typer.Option("--recipients", help="Recipient list (.csv or .xlsx); default: the mailing's."),
]
ByOption = Annotated[str | None, typer.Option("--by", help="Who asks (default: OS user).")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
T = TypeVar("T")


def fail(exc: DistributieError) -> NoReturn:
    err.print(str(exc))
    raise typer.Exit(exc.exit_code)


def guarded(action: Callable[[], T]) -> T:
    """Run a command body; a user's mistake becomes a message and an exit code."""
    try:
        return action()
    except InputError as exc:
        err.print(f"{len(exc.problems)} problem(s); nothing was sent:", style="bold red")
        fail(exc)
    except DistributieError as exc:
        fail(exc)


def load() -> Settings:
    """The settings (exit 2 when one is wrong), with logging set up from them (on stderr)."""
    settings = guarded(load_settings)
    configure_logging(settings.log_level, settings.log_format)
    return settings


def warn_if_outbox(settings: Settings) -> None:
    notice = outbox_notice(settings)
    if notice:
        err.print(notice, style="yellow")


def confirm(question: str, what: str) -> bool:
    """Ask on the terminal; without one, refuse (the caller must pass --yes)."""
    if not sys.stdin.isatty():
        fail_usage(f"no terminal to confirm on: add --yes to {what} without asking")
    return typer.confirm(question, err=True)


def fail_usage(message: str) -> NoReturn:
    fail(UsageError(message))


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in states.ALL_STATES if counts.get(s))
