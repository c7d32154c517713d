"""Commands that report: the status of one run, and the list of runs."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer
from rich.table import Table

from distributie import states
from distributie.cli.app import cli, counts_text, fail_usage, guarded, load, out
from distributie.operations import reports
from distributie.operations.describe import mailbox_notice
from distributie.operations.reports import RunStatus, local_time
from distributie.operations.runs import require_run
from distributie.operations.session import open_session


def _status_table(result: RunStatus) -> None:
    table = Table(title=f"Run {result.run}: {result.mailing}", title_justify="left")
    for column in ("gemeente", "state", "attempts", "time"):
        table.add_column(column, no_wrap=column != "gemeente")
    table.add_column("last reply", overflow="fold", ratio=1)
    for r in result.recipients:
        state, reply = r.state, r.last_reply
        if r.waiting == states.WAITING_DAILY_LIMIT:
            state += f" (daily limit: waits until {local_time(r.not_before)})"
        if r.auto_reply_at is not None:
            # The secretariat wants to know when a burgemeester is away.
            state += " (auto-reply)"
            reply += f"\nauto-reply {local_time(r.auto_reply_at)}: {r.auto_reply}"
        table.add_row(r.gemeente, state, str(r.attempts), local_time(r.updated_at), reply)
    out.print(table)
    out.print(f"created {local_time(result.created_at)} by {result.created_by}; {result.transport}")
    for line in _run_lines(result):
        out.print(line)
    out.print(counts_text(result.counts) or "no recipients")


def _run_lines(result: RunStatus) -> list[str]:
    """What the run itself is doing: a test, waiting for approval or its time, paused."""
    control, state = result.control, result.run_state
    lines = []
    if control.kind == states.RUN_KIND_TEST:
        lines.append("test run (proefzending): every message to the test address, marked [PROEF]")
    if state == states.RUN_AWAITING_APPROVAL:
        lines.append(f"awaits approval by someone other than {result.created_by}")
        if control.release_at is not None and control.release_at < time.time():
            lines.append(
                f"its time {local_time(control.release_at)} has passed: "
                f"it goes out as soon as it is approved"
            )
    elif state == states.RUN_SCHEDULED:
        lines.append(f"scheduled for {local_time(control.release_at)}")
    elif state == states.RUN_PAUSED:
        lines.append(f"paused by {control.paused_by} at {local_time(control.paused_at)}")
    if control.approved_by:
        lines.append(f"approved by {control.approved_by} at {local_time(control.approved_at)}")
    if control.release_at is not None and control.released_at is not None:
        delay = control.release_delay or 0
        lines.append(
            f"released at {local_time(control.released_at)} ({delay:.0f} s after its time)"
        )
    return lines


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
        fail_usage("give --json or --csv, not both")
    unknown_states = set(only_states or []) - set(states.ALL_STATES)
    if unknown_states:
        fail_usage(
            f"--state {', '.join(sorted(unknown_states))}: not a state; "
            f"the states are {', '.join(states.ALL_STATES)}"
        )
    settings = load()

    def read() -> RunStatus:
        with open_session(settings) as session:
            run_id = require_run(session.ledger, run)
            return session.ledger.status(run_id, with_history=as_json)

    result = guarded(read)
    if as_json:
        sys.stdout.write(json.dumps(reports.status_json(result), ensure_ascii=False) + "\n")
        return
    result.recipients = reports.only_states(result, only_states or [])
    if as_csv:
        reports.write_status_csv(sys.stdout, result.recipients)
    else:
        _status_table(result)
        notice = mailbox_notice(settings)
        if notice:
            out.print(notice)


@cli.command("runs")
def list_runs(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """List every run, oldest first, with its counts."""
    settings = load()

    def read() -> list[reports.RunSummary]:
        with open_session(settings) as session:
            return reports.run_summaries(session.ledger)

    summaries = guarded(read)
    if as_json:
        rows = [s.as_json() for s in summaries]
        sys.stdout.write(json.dumps({"runs": rows}, ensure_ascii=False) + "\n")
        return
    if not summaries:
        out.print("No runs yet.")
        return
    table = Table()
    # The run id is what people copy into the next command: never cut or wrapped.
    table.add_column("run", no_wrap=True, min_width=20)
    table.add_column("mailing", ratio=1)
    table.add_column("created", no_wrap=True)
    for column in ("by", "run state", "recipients", "states"):
        table.add_column(column)
    for s in summaries:
        kind = " (test)" if s.control.kind == states.RUN_KIND_TEST else ""
        table.add_row(
            s.run,
            s.mailing + kind,
            local_time(s.created_at),
            s.created_by,
            s.run_state,
            str(s.total),
            counts_text(s.counts),
        )
    out.print(table)
