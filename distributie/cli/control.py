"""Run control: approve or reject a run, pause and resume it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from distributie.cli.app import ByOption, cli, guarded, load, out
from distributie.cli.sending import follow_with_progress
from distributie.operations import control
from distributie.operations.session import Session, open_session, operator_name

RunArgument = Annotated[str, typer.Argument(help="Run id.")]
Action = Callable[[Session, str, str], control.Controlled]


def _do(action: Action, run: str, by: str | None) -> control.Controlled:
    settings = load()

    def act() -> control.Controlled:
        with open_session(settings) as session:
            done = action(session, run, operator_name(by))
            if done.handed_over and session.embedded:
                # No workers run elsewhere: send it now, as `send` would.
                follow_with_progress(session, done.run_id)
            return done

    return guarded(act)


@cli.command()
def approve(run: RunArgument, by: ByOption = None) -> None:
    """Approve a run someone else created; it goes out now, or at its scheduled time."""
    done = _do(control.approve, run, by)
    if done.handed_over:
        out.print(f"Run {done.run_id} approved: {done.handed_over} recipient(s) go out now.")
    else:
        out.print(f"Run {done.run_id} approved; it is {done.state} and goes out at its time.")


@cli.command()
def reject(run: RunArgument, by: ByOption = None) -> None:
    """Reject a run that awaits approval or its time: every recipient is cancelled."""
    done = _do(control.reject, run, by)
    out.print(f"Run {done.run_id} rejected: nothing of it is sent.")


@cli.command()
def pause(run: RunArgument, by: ByOption = None) -> None:
    """Pause a run: no new attempt starts, one under way finishes; `resume` goes on."""
    done = _do(control.pause, run, by)
    out.print(f"Run {done.run_id} paused. `distributie resume {done.run_id}` goes on with it.")


@cli.command()
def resume(run: RunArgument, by: ByOption = None) -> None:
    """Resume a paused run where it stopped: nobody is sent twice, nobody skipped."""
    done = _do(control.resume, run, by)
    out.print(f"Run {done.run_id} resumed: {done.handed_over} recipient(s) go out again.")
