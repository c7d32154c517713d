"""The `distributie users ...` and `distributie web` commands (mounted at the end of cli.py).

Thin like cli.py: parse, call the core, print (English), exit. Flask is imported only by `web`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from distributie import runs
from distributie.accounts import Account, Accounts, FirstUseRefused, issue_token, parse_role
from distributie.errors import DistributieError, UsageError
from distributie.settings import Settings, load_settings

out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
T = TypeVar("T")

users = typer.Typer(
    name="users",
    help="Manage the accounts of the web page (kept in the ledger's Redis).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

NameArgument = Annotated[str, typer.Argument(help="The account's name (what people log in with).")]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _fail(exc: DistributieError) -> NoReturn:
    err.print(str(exc))
    raise typer.Exit(exc.exit_code)


def _guarded(action: Callable[[], T]) -> T:
    try:
        return action()
    except DistributieError as exc:
        _fail(exc)


def _settings() -> Settings:
    return _guarded(load_settings)


@contextmanager
def _accounts(settings: Settings) -> Iterator[Accounts]:
    with runs.open_ledger(settings) as session:
        yield Accounts(session.ledger.client)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        _fail(UsageError("no terminal to ask the password on: use --password-stdin"))
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@users.command("add")
def add(
    name: NameArgument,
    role: Annotated[
        str, typer.Option("--role", help="beheerder, medewerker or lezer.")
    ] = "medewerker",
    email: Annotated[str | None, typer.Option("--email", help="E-mail address.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add an account; asks for the password twice (or reads it with --password-stdin)."""
    settings = _settings()
    chosen = _guarded(lambda: parse_role(role))
    password = _password(password_stdin)

    def action() -> Account:
        with _accounts(settings) as accounts:
            return accounts.add(name, chosen, password, email)

    account = _guarded(action)
    out.print(f"Added account {account.name} (role {account.role}).")


@users.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """List every account with its role, e-mail address and times (never a password)."""
    settings = _settings()

    def action() -> list[Account]:
        with _accounts(settings) as accounts:
            return accounts.list()

    found = _guarded(action)
    if as_json:
        rows = [
            {
                "name": a.name,
                "role": a.role.value,
                "email": a.email,
                "created_at": a.created_at,
                "changed_at": a.changed_at,
            }
            for a in found
        ]
        sys.stdout.write(json.dumps({"accounts": rows}, ensure_ascii=False) + "\n")
        return
    if not found:
        out.print("No accounts yet: add one with `distributie users add NAME --role beheerder`.")
        return
    table = Table()
    for column in ("name", "role", "email", "created", "changed"):
        table.add_column(column)
    for a in found:
        table.add_row(a.name, a.role.value, a.email or "", _when(a.created_at), _when(a.changed_at))
    out.print(table)


@users.command("passwd")
def passwd(name: NameArgument, password_stdin: PasswordStdin = False) -> None:
    """Set a new password for an account; its open web sessions end."""
    settings = _settings()
    password = _password(password_stdin)

    def action() -> Account:
        with _accounts(settings) as accounts:
            return accounts.change_password(name, password)

    account = _guarded(action)
    out.print(f"Changed the password of {account.name}.")


@users.command("remove")
def remove(name: NameArgument) -> None:
    """Remove an account; its open web sessions end."""
    settings = _settings()

    def action() -> None:
        with _accounts(settings) as accounts:
            accounts.remove(name)

    _guarded(action)
    out.print(f"Removed account {name.strip().lower()}.")


def web(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless a proxy).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the web page: login, accounts and the runs. Ctrl-C stops it."""
    settings = _settings()
    from distributie.web import auth, server

    _guarded(lambda: server.check_host(settings, host))

    def run() -> None:
        with runs.open_ledger(settings) as session:
            client = session.ledger.client

            def ready(listening: str, address: str) -> None:
                out.print(f"distributie web: listening on {listening}/ (Ctrl-C stops it)")
                if address != listening:
                    out.print(f"People open it at {address}/ (DISTRIBUTIE_WEB_BASE_URL)")
                try:
                    token = issue_token(Accounts(client))
                except FirstUseRefused:
                    return  # an account exists: people log in
                out.print(
                    "No account exists yet. Within 15 minutes, open this link to create the "
                    "first beheerder account (it works once):"
                )
                out.print(f"  {address}{auth.first_use_path(token)}")

            server.serve(settings, host, port, redis_client=client, on_ready=ready)

    _guarded(run)
    err.print("distributie web stopped.")


def mount(cli: typer.Typer) -> None:
    cli.add_typer(users)
    cli.command("web")(web)
