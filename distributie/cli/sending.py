"""Commands that send: send a run, resend one recipient, retry the failed, cancel the rest."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from distributie import states
from distributie.cli.app import (
    ByOption,
    MailingOption,
    RecipientsOption,
    YesOption,
    cli,
    confirm,
    counts_text,
    err,
    fail_usage,
    guarded,
    load,
    out,
    warn_if_outbox,
)
from distributie.operations import mailings
from distributie.operations import runs as run_ops
from distributie.operations.dkim import dkim_setup
from distributie.operations.follow import run_until_done, worker_log
from distributie.operations.mailings import BUNDLED_MAILING, CheckedMailing
from distributie.operations.schedule import parse_start
from distributie.operations.session import Session, open_session, operator_name
from distributie.operations.workers import workers_online
from distributie.settings import Settings


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def follow_with_progress(session: Session, run_id: str) -> dict[str, int]:
    """Follow a run with a progress bar (and the embedded workers when there are no others)."""
    with _progress_bar() as progress:
        task = progress.add_task("sending", total=None)

        def report(counts: dict[str, int], total: int) -> None:
            done = sum(counts[s] for s in states.TERMINAL_STATES)
            progress.update(task, total=total, completed=done, description=counts_text(counts))

        followed = run_until_done(session, run_id, report)
    if followed.worker_stopped:
        err.print(
            f"the embedded worker stopped before the run finished; its log: "
            f"{worker_log(session.settings)}",
            style="red",
        )
    return followed.counts


def _warn_without_workers(session: Session) -> None:
    if not session.embedded and workers_online(session) == 0:
        err.print(
            "No worker is consuming the queue: start one with `distributie worker`. "
            "The run waits for it.",
            style="yellow",
        )


def _print_result(
    run_id: str, counts: dict[str, int], as_json: bool, run_state: str | None = None
) -> None:
    if as_json:
        document: dict[str, object] = {"run": run_id, "counts": counts}
        if run_state is not None:
            document["run_state"] = run_state
        out.print_json(json.dumps(document))
    else:
        err.print(f"Run {run_id}: {counts_text(counts)}. Details: distributie status {run_id}")


def _interrupted(session: Session, run_id: str, as_json: bool) -> int:
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
    _print_result(run_id, counts, as_json)
    return 130


def _waiting(session: Session, run_id: str, plan: run_ops.RunPlan, by: str) -> None:
    """Say what a run that is not handed to the workers yet waits for, and what releases it."""
    if plan.needs_approval:
        err.print(
            f"Run {run_id} awaits approval: someone other than {by} runs "
            f"`distributie approve {run_id}` (or `distributie reject {run_id}`).",
            style="yellow",
        )
    if plan.release_at is not None:
        err.print(f"Run {run_id} is scheduled for {plan.release_at:%Y-%m-%d %H:%M %Z}.")
    if session.embedded and plan.release_at is not None:
        err.print(
            "A running worker sends it: keep `distributie worker` (or `distributie web`) running "
            "in this folder, or set DISTRIBUTIE_REDIS_URL for workers elsewhere.",
            style="yellow",
        )


def _send_run(
    settings: Settings,
    checked: CheckedMailing,
    chosen: list[mailings.Recipient],
    plan: run_ops.RunPlan,
    no_wait: bool,
    as_json: bool,
    by: str | None,
) -> int:
    with open_session(settings) as session:
        run_id = run_ops.start_run(
            session,
            checked,
            chosen,
            operator_name(by),
            plan,
            on_created=lambda run_id: err.print(f"Run {run_id}", style="bold"),
        )
        if plan.state != states.RUN_ACTIVE:
            _waiting(session, run_id, plan, operator_name(by))
            _print_result(run_id, session.ledger.counts(run_id), as_json, plan.state)
            return 0
        try:
            _warn_without_workers(session)
            if no_wait:
                _print_result(run_id, session.ledger.counts(run_id), as_json)
                return 0
            counts = follow_with_progress(session, run_id)
        except KeyboardInterrupt:
            return _interrupted(session, run_id, as_json)
    _print_result(run_id, counts, as_json)
    return 1 if any(counts[s] for s in states.UNSUCCESSFUL_STATES) else 0


def _describe(checked: CheckedMailing, chosen: list[mailings.Recipient]) -> None:
    err.print(
        f"{checked.mailing.spec.name}: {len(chosen)} recipient(s) from {checked.recipients.path}"
    )
    for recipient in chosen[:3]:
        err.print(f"  {recipient.gemeente} <{recipient.email}>")
    if len(chosen) > 3:
        err.print(f"  ... and {len(chosen) - 3} more")
    err.print(f"Subject: {checked.sample.subject}")


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
    yes: YesOption = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once queued (needs DISTRIBUTIE_REDIS_URL).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print {run, counts} as JSON.")] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who starts the run (default: your OS user).")
    ] = None,
    test_to: Annotated[
        str | None,
        typer.Option(
            "--test-to",
            help="A proefzending: the chosen recipients' messages to this address only, "
            "marked [PROEF]; never counted as delivered to a gemeente.",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Start at this time, e.g. 2026-12-07T09:00 (DISTRIBUTIE_TIMEZONE unless an "
            "offset is given); a running worker releases the run then.",
        ),
    ] = None,
) -> None:
    """Check, then send the mailing: one personal e-mail per recipient, followed until done."""
    settings = load()
    plan = _plan(settings, test_to, at)
    if no_wait and settings.redis_url is None:
        fail_usage(
            "--no-wait needs DISTRIBUTIE_REDIS_URL and workers started with "
            "`distributie worker`: without them the run's workers stop when send returns"
        )
    checked = guarded(lambda: mailings.check(settings, mailing, recipients))
    guarded(lambda: dkim_setup(settings, checked.mailing))  # a key the workers cannot sign with
    chosen = guarded(
        lambda: mailings.select_recipients(checked.recipients.recipients, only or [], limit)
    )
    warn_if_outbox(settings)
    _describe(checked, chosen)
    question = f"Send to {len(chosen)} recipient(s)?"
    if plan.test_to:
        question = f"Send {len(chosen)} test message(s) to {plan.test_to}?"
    if not yes and not confirm(question, "send"):
        err.print("Nothing was sent.")
        raise typer.Exit(1)
    exit_code = guarded(lambda: _send_run(settings, checked, chosen, plan, no_wait, as_json, by))
    raise typer.Exit(exit_code)


def _plan(settings: Settings, test_to: str | None, at: str | None) -> run_ops.RunPlan:
    if test_to and at:
        fail_usage("a test send goes out at once: leave out --at")
    address = guarded(lambda: run_ops.valid_address(test_to, "--test-to")) if test_to else None
    when = guarded(lambda: parse_start(at, settings.timezone)) if at else None
    return run_ops.RunPlan(
        test_to=address,
        release_at=when,
        needs_approval=settings.require_approval and address is None,
    )


def _follow_requeue(session: Session, requeue: run_ops.Requeue) -> dict[str, int]:
    """After a resend or retry: send it with the embedded workers, or say none are running."""
    if requeue.queued and session.embedded:
        return follow_with_progress(session, requeue.run_id)
    if requeue.queued:
        _warn_without_workers(session)
    return session.ledger.counts(requeue.run_id)


@cli.command()
def resend(
    run: Annotated[str, typer.Argument(help="Run id.")],
    gemeente: Annotated[str, typer.Argument(help="The recipient's gemeente.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Send to this corrected address instead.")
    ] = None,
    yes: YesOption = False,
    by: ByOption = None,
) -> None:
    """Send one recipient of a run again, explicitly (a new Message-ID; in its history)."""
    settings = load()
    address = guarded(lambda: run_ops.valid_address(to)) if to else None
    if not yes and not confirm(f"Send run {run} to {gemeente} again?", "resend"):
        raise typer.Exit(1)
    warn_if_outbox(settings)

    def action() -> tuple[str, dict[str, int]]:
        with open_session(settings) as session:
            requeue = run_ops.resend(session, run, gemeente, address, operator_name(by))
            return requeue.run_id, _follow_requeue(session, requeue)

    run_id, counts = guarded(action)
    err.print(f"{gemeente} queued again in run {run_id}. {counts_text(counts)}")


@cli.command()
def retry(
    run: Annotated[str, typer.Argument(help="Run id.")],
    by: ByOption = None,
    bounced: Annotated[
        bool,
        typer.Option(
            "--bounced",
            help="Also the bounced recipients (an address that bounced usually needs "
            "`resend --to` instead).",
        ),
    ] = False,
) -> None:
    """Send every failed and unknown recipient of a run again (each gets a new Message-ID)."""
    settings = load()
    warn_if_outbox(settings)

    def action() -> tuple[run_ops.Requeue, dict[str, int]]:
        with open_session(settings) as session:
            requeue = run_ops.retry(session, run, operator_name(by), bounced=bounced)
            return requeue, _follow_requeue(session, requeue)

    requeue, counts = guarded(action)
    err.print(
        f"{len(requeue.queued)} recipient(s) queued again in run {requeue.run_id}. "
        f"{counts_text(counts)}"
    )


@cli.command()
def cancel(run: Annotated[str, typer.Argument(help="Run id.")], by: ByOption = None) -> None:
    """Cancel every queued and retrying recipient; one being sent finishes and is not retried."""
    settings = load()

    def action() -> run_ops.Cancelled:
        with open_session(settings) as session:
            return run_ops.cancel(session, run, operator_name(by))

    result = guarded(action)
    out.print(
        f"Run {result.run_id}: {result.cancelled} cancelled; {result.finishing} being sent now "
        f"finish that attempt and are not retried."
    )
