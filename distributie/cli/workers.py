"""Commands for workers: run one, and ask how many are listening."""

from __future__ import annotations

from typing import Annotated

import typer

from distributie.cli.app import cli, guarded, load, out
from distributie.operations.session import open_session
from distributie.operations.signin import try_sign_in
from distributie.operations.workers import run_worker, workers_online


@cli.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Celery log level.")] = "WARNING",
    quiet: Annotated[bool, typer.Option("--quiet", help="No start-up banner.")] = False,
) -> None:
    """Start a worker that sends queued messages (joins any worker on the same Redis)."""
    settings = load()
    if settings.redis_url is not None:
        run_worker(settings, settings.redis_url.get_secret_value(), concurrency, loglevel, quiet)
        return

    def embedded() -> None:
        with open_session(settings) as session:
            run_worker(settings, session.redis_url, concurrency, loglevel, quiet)

    guarded(embedded)


@cli.command()
def ping(
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for replies.")] = 2.0,
) -> None:
    """Say how many workers are consuming the queue (exit 1 when none: a health check); with
    DISTRIBUTIE_SMTP_AUTH=xoauth2 first try the sign-in (exit 2 when it is refused)."""
    settings = load()
    signed_in = guarded(lambda: try_sign_in(settings))
    if signed_in is not None:
        out.print(f"OAuth2 sign-in as {signed_in.mailbox}: OK")

    def count() -> int:
        with open_session(settings) as session:
            return workers_online(session, timeout)

    online = guarded(count)
    out.print(f"{online} worker(s) online")
    raise typer.Exit(0 if online else 1)
