"""`distributie web`: serve the web page until Ctrl-C or SIGTERM. With the embedded default it
runs the private Redis and a worker for as long as it serves, and stops both when it stops."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from distributie.accounts import FirstUseRefused, issue_token
from distributie.cli.app import cli, err, guarded, load, out, warn_if_outbox
from distributie.operations.accounts import accounts_of
from distributie.operations.follow import worker_log
from distributie.operations.session import Session, open_session
from distributie.operations.workers import workers_online, workers_while_serving


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
    warn_if_outbox(settings)

    def ready(session: Session, listening: str, address: str) -> None:
        out.print(f"distributie web: listening on {listening}/ (Ctrl-C stops it)")
        if address != listening:
            out.print(f"People open it at {address}/ (DISTRIBUTIE_WEB_BASE_URL)")
        try:
            token = issue_token(accounts_of(session))
        except FirstUseRefused:
            pass  # an account exists: people log in
        else:
            out.print(
                "No account exists yet. Within 15 minutes, open this link to create the "
                "first beheerder account (it works once):"
            )
            out.print(f"  {address}{auth.first_use_path(token)}")
        if session.embedded:
            out.print(f"Sending with an embedded worker; its log: {worker_log(settings)}")
        elif workers_online(session) == 0:
            err.print(
                "No worker is consuming the queue: runs started on the page wait until one "
                "runs (`distributie worker`).",
                style="yellow",
            )

    def run() -> None:
        # SIGTERM is Ctrl-C from here on, also while the worker and Redis are being stopped.
        with (
            server.sigterm_stops(),
            open_session(settings) as session,
            workers_while_serving(session) as workers,
        ):
            server.serve(
                session,
                host,
                port,
                on_ready=lambda listening, address: ready(session, listening, address),
                workers_alive=workers.alive if workers is not None else None,
            )

    # A second Ctrl-C while stopping: what was started is stopped all the same.
    with contextlib.suppress(KeyboardInterrupt):
        guarded(run)
    err.print("distributie web stopped.")
