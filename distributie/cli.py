"""The `distributie` command: parses options, calls the core, prints, and sets the exit code.

Exit codes: 0 success; 1 a run ended with recipients failed, unknown or cancelled; 2 invalid
input, settings or usage. A user's mistake never shows a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from distributie import runs, states
from distributie.checking import CheckedMailing, check_mailing
from distributie.csvsafe import write_csv
from distributie.errors import DistributieError, UsageError
from distributie.mailing import BUNDLED_MAILING
from distributie.message import Addressing, build_message
from distributie.recipients import Recipient
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
T = TypeVar("T")


def fail(exc: DistributieError) -> NoReturn:
    err.print(str(exc))
    raise typer.Exit(exc.exit_code)


def guarded(action: Callable[[], T]) -> T:
    """Run a command body; a user's mistake becomes a message and an exit code."""
    try:
        return action()
    except DistributieError as exc:
        if hasattr(exc, "problems"):
            err.print(f"{len(exc.problems)} problem(s); nothing was sent:", style="bold red")
        fail(exc)


def _settings() -> Settings:
    return guarded(load_settings)


def _checked(mailing: Path, recipients: Path | None, settings: Settings) -> CheckedMailing:
    return guarded(lambda: check_mailing(mailing, recipients, settings.max_message_bytes))


def _message(checked: CheckedMailing, recipient: Recipient, run_id: str) -> bytes:
    spec = checked.mailing.spec
    rendered = checked.compiled.render(recipient.context())
    addressing = Addressing(
        spec.sender.name,
        spec.sender.address,
        spec.sender.reply_to,
        recipient.email,
        run_id,
        recipient.gemeente,
        recipient.key,
        0,
    )
    return build_message(rendered, addressing)


@cli.command()
def check(mailing: MailingOption = BUNDLED_MAILING, recipients: RecipientsOption = None) -> None:
    """Validate the mailing and recipient list; print every problem (exit 2) or a summary."""
    settings = _settings()
    checked = _checked(mailing, recipients, settings)
    sample = checked.sample
    out.print(f"Mailing:     {checked.mailing.spec.name} ({checked.mailing.directory})")
    out.print(f"Recipients:  {len(checked.recipients.recipients)} in {checked.recipients.path}")
    out.print(
        "Attachments: "
        + (", ".join(a.filename for a in sample.attachments) or "none")
        + "  (first recipient)"
    )
    out.print(f"Subject:     {sample.subject}")
    out.print("OK: every recipient renders; nothing was sent.", style="green")


@cli.command()
def preview(
    gemeente: Annotated[str, typer.Option("--gemeente", help="The recipient to preview.")],
    mailing: MailingOption = BUNDLED_MAILING,
    recipients: RecipientsOption = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the .eml (default: <gemeente>.eml)."),
    ] = None,
) -> None:
    """Show one recipient's subject and text, and write the exact .eml that would be sent."""
    settings = _settings()
    checked = _checked(mailing, recipients, settings)
    chosen = guarded(
        lambda: runs.select_recipients(checked.recipients.recipients, [gemeente], None)
    )
    recipient = chosen[0]
    rendered = checked.compiled.render(recipient.context())
    path = out_file or Path(f"{recipient.key}.eml")
    guarded(lambda: _write(path, _message(checked, recipient, "preview")))
    out.print(f"To:      {rendered.to_name} <{recipient.email}>")
    out.print(f"Subject: {rendered.subject}")
    for attachment in rendered.attachments:
        out.print(f"Attachment: {attachment.filename} ({len(attachment.content):,} bytes)")
    out.print()
    out.print(rendered.text)
    out.print()
    out.print(f"Written to {path}; nothing was sent.")


@cli.command()
def render(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the .eml files.")],
    mailing: MailingOption = BUNDLED_MAILING,
    recipients: RecipientsOption = None,
) -> None:
    """Write every recipient's message as an .eml file (a dry run: nothing is sent)."""
    settings = _settings()
    checked = _checked(mailing, recipients, settings)
    guarded(lambda: _make_dir(out_dir))
    for recipient in checked.recipients.recipients:
        # The key is a slug of the gemeente: a '/' in a name can never leave the folder.
        data = _message(checked, recipient, "render")
        guarded(partial(_write, out_dir / f"{recipient.key}.eml", data))
    out.print(
        f"Wrote {len(checked.recipients.recipients)} messages to {out_dir}; nothing was sent."
    )


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{path}: cannot create this folder: {exc.strerror}") from None


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in states.ALL_STATES if counts.get(s))


def _follow(session: runs.Session, run_id: str, until: Callable[[], bool] | None) -> dict[str, int]:
    with _progress_bar() as progress:
        task = progress.add_task("sending", total=None)

        def report(counts: dict[str, int], total: int) -> None:
            done = sum(counts[s] for s in states.TERMINAL_STATES)
            progress.update(task, total=total, completed=done, description=_counts_text(counts))

        return runs.follow(session.ledger, run_id, report, until=until)


@cli.command()
def send(
    mailing: MailingOption = BUNDLED_MAILING,
    recipients: RecipientsOption = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Send only to this gemeente (repeatable).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Send to the first N recipients only.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once queued (needs DISTRIBUTIE_REDIS_URL).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print {run, counts} as JSON.")] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who starts the run (default: your OS user).")
    ] = None,
) -> None:
    """Check, then send the mailing: one personal e-mail per recipient, followed until done."""
    settings = _settings()
    if no_wait and settings.redis_url is None:
        fail(
            UsageError(
                "--no-wait needs DISTRIBUTIE_REDIS_URL and workers started with "
                "`distributie worker`: without them the run's workers stop when send returns"
            )
        )
    checked = _checked(mailing, recipients, settings)
    chosen = guarded(
        lambda: runs.select_recipients(checked.recipients.recipients, only or [], limit)
    )
    notice = runs.outbox_notice(settings)
    if notice:
        err.print(notice, style="yellow")
    err.print(
        f"{checked.mailing.spec.name}: {len(chosen)} recipient(s) from {checked.recipients.path}"
    )
    for recipient in chosen[:3]:
        err.print(f"  {recipient.gemeente} <{recipient.email}>")
    if len(chosen) > 3:
        err.print(f"  ... and {len(chosen) - 3} more")
    err.print(f"Subject: {checked.sample.subject}")
    if not yes:
        if not sys.stdin.isatty():
            fail(UsageError("no terminal to confirm on: add --yes to send without asking"))
        if not typer.confirm(f"Send to {len(chosen)} recipient(s)?", err=True):
            err.print("Nothing was sent.")
            raise typer.Exit(1)
    exit_code = guarded(lambda: _send_run(settings, checked, chosen, no_wait, as_json, by))
    raise typer.Exit(exit_code)


def _send_run(
    settings: Settings,
    checked: CheckedMailing,
    chosen: list[Recipient],
    no_wait: bool,
    as_json: bool,
    by: str | None,
) -> int:
    from distributie import tasks

    with runs.open_ledger(settings) as session:
        tasks.configure(settings, redis_url=session.redis_url)
        run_id = runs.create_run(
            session.ledger,
            checked,
            chosen,
            runs.operator_name(by),
            runs.transport_description(settings),
        )
        err.print(f"Run {run_id}", style="bold")
        tasks.enqueue(run_id, [(r.key, 1) for r in chosen], settings.batch_size)
        try:
            if session.embedded:
                with runs.embedded_workers(
                    session.redis_url, settings.worker_concurrency
                ) as worker:
                    counts = _follow(session, run_id, until=lambda: worker.poll() is not None)
                    if worker.poll() is not None and not _all_terminal(counts):
                        err.print(
                            "the embedded worker stopped before the run finished", style="red"
                        )
            else:
                if tasks.workers_online() == 0:
                    err.print(
                        "No worker is consuming the queue: start one with "
                        "`distributie worker`. The run waits for it.",
                        style="yellow",
                    )
                if no_wait:
                    counts = session.ledger.counts(run_id)
                    _print_send_result(run_id, counts, as_json)
                    return 0
                counts = _follow(session, run_id, until=None)
        except KeyboardInterrupt:
            # The embedded worker has finished what it was sending when we get here.
            counts = session.ledger.counts(run_id)
            pending = sum(counts[s] for s in states.PENDING_STATES)
            if session.embedded:
                hint = (
                    f"{pending} recipient(s) not yet sent stay queued in run {run_id}: "
                    f"`distributie worker` sends them, `distributie cancel {run_id}` stops them."
                )
            else:
                hint = f"Stopped following run {run_id}; the workers go on with it."
            err.print(hint, style="yellow")
            _print_send_result(run_id, counts, as_json)
            return 130
    _print_send_result(run_id, counts, as_json)
    return 1 if any(counts[s] for s in states.UNSUCCESSFUL_STATES) else 0


def _all_terminal(counts: dict[str, int]) -> bool:
    return not any(counts[s] for s in states.PENDING_STATES)


def _print_send_result(run_id: str, counts: dict[str, int], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps({"run": run_id, "counts": counts}))
    else:
        err.print(f"Run {run_id}: {_counts_text(counts)}. Details: distributie status {run_id}")


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return ""
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@cli.command()
def status(
    run: Annotated[str | None, typer.Argument(help="Run id (default: the latest run).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout, safe for Excel.")] = False,
    only_states: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            help="Only recipients in this state (repeatable), e.g. --state failed --csv "
            "for a list of who still needs attention. Not applied to --json.",
        ),
    ] = None,
) -> None:
    """Show a run: one row per gemeente with state, attempts, last reply and time."""
    if as_json and as_csv:
        fail(UsageError("give --json or --csv, not both"))
    unknown_states = set(only_states or []) - set(states.ALL_STATES)
    if unknown_states:
        fail(
            UsageError(
                f"--state {', '.join(sorted(unknown_states))}: not a state; "
                f"the states are {', '.join(states.ALL_STATES)}"
            )
        )
    settings = _settings()

    def show() -> None:
        with runs.open_ledger(settings) as session:
            run_id = runs.require_run(session.ledger, run)
            result = session.ledger.status(run_id, with_history=as_json)
        if as_json:
            sys.stdout.write(json.dumps(runs.status_json(result), ensure_ascii=False) + "\n")
            return
        if only_states:
            result.recipients = [r for r in result.recipients if r.state in only_states]
        if as_csv:
            write_csv(
                sys.stdout,
                [
                    "gemeente",
                    "email",
                    "state",
                    "attempts",
                    "last_reply",
                    "updated_at",
                    "message_id",
                ],
                (
                    [
                        r.gemeente,
                        r.email,
                        r.state,
                        r.attempts,
                        r.last_reply,
                        _when(r.updated_at),
                        r.message_id,
                    ]
                    for r in result.recipients
                ),
            )
            return
        table = Table(title=f"Run {result.run}: {result.mailing}", title_justify="left")
        for column in ("gemeente", "state", "attempts", "time"):
            table.add_column(column, no_wrap=column != "gemeente")
        table.add_column("last reply", overflow="fold", ratio=1)
        for r in result.recipients:
            state = r.state
            if r.waiting == "daily-limit":
                state += f" (daily limit: waits until {_when(r.not_before)})"
            table.add_row(r.gemeente, state, str(r.attempts), _when(r.updated_at), r.last_reply)
        out.print(table)
        out.print(f"created {_when(result.created_at)} by {result.created_by}; {result.transport}")
        out.print(_counts_text(result.counts) or "no recipients")

    guarded(show)


@cli.command("runs")
def list_runs(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """List every run, oldest first, with its counts."""
    settings = _settings()

    def show() -> None:
        with runs.open_ledger(settings) as session:
            rows: list[dict[str, Any]] = []
            for run_id in session.ledger.run_ids():
                info = session.ledger.run_info(run_id)
                rows.append(
                    {
                        "run": run_id,
                        "mailing": info.get("mailing", ""),
                        "created_at": float(info.get("created_at") or 0),
                        "created_by": info.get("created_by", ""),
                        "total": int(info.get("total") or 0),
                        "counts": session.ledger.counts(run_id),
                    }
                )
        if as_json:
            sys.stdout.write(json.dumps({"runs": rows}, ensure_ascii=False) + "\n")
            return
        if not rows:
            out.print("No runs yet.")
            return
        table = Table()
        for column in ("run", "mailing", "created", "by", "recipients", "states"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row["run"],
                row["mailing"],
                _when(row["created_at"]),
                row["created_by"],
                str(row["total"]),
                _counts_text(row["counts"]),
            )
        out.print(table)

    guarded(show)


Requeue = Callable[[runs.Session, str], list[tuple[str, int]]]


def _requeue_and_send(
    settings: Settings, run: str, requeue: Requeue
) -> tuple[str, list[tuple[str, int]], dict[str, int]]:
    """Queue recipients of a run again (`requeue` says which) and send them."""
    from distributie import tasks

    with runs.open_ledger(settings) as session:
        tasks.configure(settings, redis_url=session.redis_url)
        run_id = runs.require_run(session.ledger, run)
        queued = requeue(session, run_id)
        if queued:
            tasks.enqueue(run_id, queued, settings.batch_size)
        counts = session.ledger.counts(run_id)
        if queued and session.embedded:
            with runs.embedded_workers(session.redis_url, settings.worker_concurrency) as worker:
                counts = _follow(session, run_id, until=lambda: worker.poll() is not None)
        elif queued and tasks.workers_online() == 0:
            err.print(
                "No worker is consuming the queue: start `distributie worker`.", style="yellow"
            )
    return run_id, queued, counts


@cli.command()
def resend(
    run: Annotated[str, typer.Argument(help="Run id.")],
    gemeente: Annotated[str, typer.Argument(help="The recipient's gemeente.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Send to this corrected address instead.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who asks (default: OS user).")] = None,
) -> None:
    """Send one recipient of a run again, explicitly (a new Message-ID; in its history)."""
    settings = _settings()
    address = guarded(lambda: _valid_address(to)) if to else None
    if not yes:
        if not sys.stdin.isatty():
            fail(UsageError("no terminal to confirm on: add --yes to resend without asking"))
        if not typer.confirm(f"Send run {run} to {gemeente} again?", err=True):
            raise typer.Exit(1)
    notice = runs.outbox_notice(settings)
    if notice:
        err.print(notice, style="yellow")

    def requeue(session: runs.Session, run_id: str) -> list[tuple[str, int]]:
        return [runs.resend(session.ledger, run_id, gemeente, address, runs.operator_name(by))]

    run_id, _, counts = guarded(lambda: _requeue_and_send(settings, run, requeue))
    err.print(f"{gemeente} queued again in run {run_id}. {_counts_text(counts)}")


def _valid_address(address: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=False)
        return str(result.ascii_email)
    except EmailNotValidError as exc:
        raise UsageError(f"--to {address!r} is not a valid e-mail address: {exc}") from None


@cli.command()
def retry(
    run: Annotated[str, typer.Argument(help="Run id.")],
    by: Annotated[str | None, typer.Option("--by", help="Who asks (default: OS user).")] = None,
) -> None:
    """Send every failed and unknown recipient of a run again (each gets a new Message-ID)."""
    settings = _settings()
    notice = runs.outbox_notice(settings)
    if notice:
        err.print(notice, style="yellow")

    def requeue(session: runs.Session, run_id: str) -> list[tuple[str, int]]:
        return runs.retry(session.ledger, run_id, runs.operator_name(by))

    run_id, queued, counts = guarded(lambda: _requeue_and_send(settings, run, requeue))
    err.print(f"{len(queued)} recipient(s) queued again in run {run_id}. {_counts_text(counts)}")


@cli.command()
def cancel(
    run: Annotated[str, typer.Argument(help="Run id.")],
    by: Annotated[str | None, typer.Option("--by", help="Who asks (default: OS user).")] = None,
) -> None:
    """Cancel every queued and retrying recipient; one being sent finishes and is not retried."""
    settings = _settings()

    def action() -> tuple[str, dict[str, int]]:
        with runs.open_ledger(settings) as session:
            run_id = runs.require_run(session.ledger, run)
            return run_id, runs.cancel(session.ledger, run_id, runs.operator_name(by))

    run_id, result = guarded(action)
    out.print(
        f"Run {run_id}: {result['cancelled']} cancelled; {result['finishing']} being sent now "
        f"finish that attempt and are not retried."
    )


@cli.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", min=1, help="Worker processes.")
    ] = None,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Celery log level.")] = "WARNING",
    quiet: Annotated[bool, typer.Option("--quiet", help="No start-up banner.")] = False,
) -> None:
    """Start a worker that sends queued messages (joins any worker on the same Redis)."""
    settings = _settings()
    from distributie import tasks

    if quiet:
        # The embedded worker runs as whoever typed the command; the banner and the warning
        # about running as root are noise there.
        warnings.filterwarnings("ignore", message=".*superuser privileges.*")

    def run_worker(url: str) -> None:
        app = tasks.configure(settings, redis_url=url)
        app.worker_main(
            [
                *(["--quiet"] if quiet else []),
                "worker",
                f"--concurrency={concurrency or settings.worker_concurrency}",
                f"--loglevel={loglevel}",
                f"--queues={tasks.QUEUE}",
                # Unique per process, so `ping` counts every worker on a host.
                f"--hostname=distributie-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        )

    if settings.redis_url is not None:
        run_worker(settings.redis_url.get_secret_value())
    else:
        with runs.open_ledger(settings) as session:
            run_worker(session.redis_url)


@cli.command()
def ping(
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for replies.")] = 2.0,
) -> None:
    """Say how many workers are consuming the queue (exit 1 when none: a health check)."""
    settings = _settings()
    from distributie import tasks

    def count() -> int:
        with runs.open_ledger(settings) as session:
            tasks.configure(settings, redis_url=session.redis_url)
            return tasks.workers_online(timeout)

    online = guarded(count)
    out.print(f"{online} worker(s) online")
    raise typer.Exit(0 if online else 1)


def main() -> None:
    cli()


# --- web page and accounts (issue 10): `distributie users ...` and `distributie web` ----------
from distributie.web.commands import mount  # noqa: E402 - after every command of this module

mount(cli)
