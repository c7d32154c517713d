"""`distributie users ...`: the accounts of the web page (kept in the ledger's Redis)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from distributie.accounts import Account, parse_role
from distributie.cli.app import cli, fail_usage, guarded, load, out
from distributie.operations.accounts import open_accounts
from distributie.operations.reports import local_time

users = typer.Typer(
    name="users",
    help="Manage the accounts of the web page (kept in the ledger's Redis).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.add_typer(users)

NameArgument = Annotated[str, typer.Argument(help="The account's name (what people log in with).")]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        fail_usage("no terminal to ask the password on: use --password-stdin")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


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
    settings = load()
    chosen = guarded(lambda: parse_role(role))
    password = _password(password_stdin)

    def action() -> Account:
        with open_accounts(settings) as accounts:
            return accounts.add(name, chosen, password, email)

    account = guarded(action)
    out.print(f"Added account {account.name} (role {account.role}).")


@users.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """List every account with its role, e-mail address and times (never a password)."""
    settings = load()

    def action() -> list[Account]:
        with open_accounts(settings) as accounts:
            return accounts.list()

    found = guarded(action)
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
        table.add_row(
            a.name, a.role.value, a.email or "", local_time(a.created_at), local_time(a.changed_at)
        )
    out.print(table)


@users.command("passwd")
def passwd(name: NameArgument, password_stdin: PasswordStdin = False) -> None:
    """Set a new password for an account; its open web sessions end."""
    settings = load()
    password = _password(password_stdin)

    def action() -> Account:
        with open_accounts(settings) as accounts:
            return accounts.change_password(name, password)

    account = guarded(action)
    out.print(f"Changed the password of {account.name}.")


@users.command("remove")
def remove(name: NameArgument) -> None:
    """Remove an account; its open web sessions end."""
    settings = load()

    def action() -> None:
        with open_accounts(settings) as accounts:
            accounts.remove(name)

    guarded(action)
    out.print(f"Removed account {name.strip().lower()}.")
