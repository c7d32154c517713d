"""The actions a run page offers, in one list: each is a link with a `data-action` hook that
leads to a confirm step naming what it will do. A feature adds its entry here, under the
condition that makes it possible (the run's counts, its state from run_state.shown_run(), who
looks), and its confirm page with `confirm.html`; the run page shows whatever this list holds
for the person's role."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from distributie import states
from distributie.accounts import Action
from distributie.operations.reports import RunView
from distributie.web.run_state import RunShown


@dataclass(frozen=True)
class RunAction:
    hook: str  # the data-action value: a public interface (README)
    label: str
    url: str
    needs: Action  # the role check; the page shows the action only to those allowed
    danger: bool = False
    primary: bool = False  # what the run waits for (approval, resuming): the filled button


def retryable(view: RunView) -> int:
    return view.counts.get(states.FAILED, 0) + view.counts.get(states.UNKNOWN, 0)


def stoppable(view: RunView) -> int:
    """What Annuleren stops: recipients queued or waiting to be tried again."""
    return view.counts.get(states.QUEUED, 0) + view.counts.get(states.RETRYING, 0)


def run_actions(view: RunView, shown: RunShown, viewer: str) -> list[RunAction]:
    """What `viewer` may be offered on this run's page now (their role is checked by the page).
    Approving and rejecting a run that awaits approval are for anyone but its creator (the
    vier-ogenprincipe); the creator can withdraw it with Annuleren."""
    found = []
    awaiting = shown.state == states.RUN_AWAITING_APPROVAL
    colleague = viewer != shown.created_by
    if awaiting and colleague:
        found.append(
            RunAction("approve", "Goedkeuren", url_for("control.approve", run=view.run),
                      Action.APPROVE, primary=True)
        )  # fmt: skip
        found.append(
            RunAction("reject", "Afwijzen", url_for("control.reject", run=view.run),
                      Action.REJECT, danger=True)
        )  # fmt: skip
    if shown.state == states.RUN_ACTIVE:
        found.append(
            RunAction("pause", "Pauzeren", url_for("control.pause", run=view.run), Action.PAUSE)
        )
    if shown.state == states.RUN_PAUSED:
        found.append(
            RunAction("resume", "Hervatten", url_for("control.resume", run=view.run),
                      Action.RESUME, primary=True)
        )  # fmt: skip
    if retryable(view):
        found.append(
            RunAction(
                "retry",
                f"Mislukte opnieuw versturen ({retryable(view)})",
                url_for("actions.retry", run=view.run),
                Action.RETRY,
            )
        )
    if stoppable(view) and not (awaiting and colleague):
        found.append(
            RunAction(
                "cancel",
                f"Annuleren ({stoppable(view)} nog niet verzonden)",
                url_for("actions.cancel", run=view.run),
                Action.CANCEL,
                danger=True,
            )
        )
    return found
