"""Run control: approve or reject a run (the vier-ogenprincipe), pause and resume it."""

from __future__ import annotations

from dataclasses import dataclass

from distributie import states
from distributie.errors import UsageError
from distributie.ledger import RunChanged
from distributie.operations.runs import enqueue, require_run
from distributie.operations.session import Session

# What each action may start from, in the words of the refusal.
_FROM = {
    states.OUTCOME_APPROVED: "only a run that awaits approval can be approved",
    states.OUTCOME_REJECTED: "only a run that awaits approval or its time can be rejected",
    states.OUTCOME_PAUSED: "only an active run can be paused",
    states.OUTCOME_RESUMED: "only a paused run can be resumed",
}


class ControlRefused(UsageError):
    """A run control action the run's state (or the vier-ogenprincipe) does not allow; nothing
    changed. `reason` is "same_person" (approval by the creator) or "refused" (the state)."""

    def __init__(self, run_id: str, action: str, by: str, reason: str, state: str) -> None:
        self.run_id = run_id
        self.action = action
        self.by = by
        self.reason = reason
        self.state = state
        if reason == "same_person":
            message = f"{by} created run {run_id}: someone else must approve it (vier-ogenprincipe)"
        else:
            message = f"run {run_id} is {state}: {_FROM[action]}"
        super().__init__(message)


@dataclass(frozen=True)
class Controlled:
    run_id: str
    state: str  # the run's state afterwards
    handed_over: int  # recipients handed to the workers now


def _control(session: Session, run: str, action: str, by: str) -> Controlled:
    run_id = require_run(session.ledger, run)
    result = session.ledger.control_run(run_id, action, by)
    if not isinstance(result, RunChanged):
        raise ControlRefused(run_id, action, by, result.reason, result.detail)
    if result.to_send:
        enqueue(session, run_id, result.to_send)
    return Controlled(run_id, result.state, len(result.to_send))


def approve(session: Session, run: str, by: str) -> Controlled:
    """Approve a run created by someone else: it goes out now, or at its time."""
    return _control(session, run, states.OUTCOME_APPROVED, by)


def reject(session: Session, run: str, by: str) -> Controlled:
    """Reject a run awaiting approval or its time: every recipient is cancelled."""
    return _control(session, run, states.OUTCOME_REJECTED, by)


def pause(session: Session, run: str, by: str) -> Controlled:
    """No new attempt starts; one already under way finishes. Nothing is lost: see resume."""
    return _control(session, run, states.OUTCOME_PAUSED, by)


def resume(session: Session, run: str, by: str) -> Controlled:
    """Go on where the run stopped: every recipient still waiting goes to the workers again."""
    return _control(session, run, states.OUTCOME_RESUMED, by)
