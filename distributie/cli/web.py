"""`distributie web`: serve the web page until Ctrl-C or SIGTERM."""

from __future__ import annotations

from typing import Annotated

import typer

from distributie.accounts import FirstUseRefused, issue_token
from distributie.cli.app import cli, err, guarded, load, out
from distributie.operations.accounts import accounts_of
from distributie.operations.session import open_session


@cli.command()
def web(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless a proxy).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the web page: login, accounts and the runs. Ctrl-C stops it."""
    settings = load()
    from distributie.web import auth, server  # Flask is slow to import; only `web` needs it

    guarded(lambda: server.check_host(settings, host))

    def run() -> None:
        with open_session(settings) as session:
            accounts = accounts_of(session)

            def ready(listening: str, address: str) -> None:
                out.print(f"distributie web: listening on {listening}/ (Ctrl-C stops it)")
                if address != listening:
                    out.print(f"People open it at {address}/ (DISTRIBUTIE_WEB_BASE_URL)")
                try:
                    token = issue_token(accounts)
                except FirstUseRefused:
                    return  # an account exists: people log in
                out.print(
                    "No account exists yet. Within 15 minutes, open this link to create the "
                    "first beheerder account (it works once):"
                )
                out.print(f"  {address}{auth.first_use_path(token)}")

            server.serve(settings, host, port, redis_client=session.ledger.client, on_ready=ready)

    guarded(run)
    err.print("distributie web stopped.")
