"""The actions a run page offers, in one list: each is a link with a `data-action` hook that
leads to a confirm step naming what it will do. A later feature (pause, resume, approve, a test
send) adds its entry here, under the condition that makes it possible, and its confirm page
with `confirm.html`; the run page shows whatever this list holds for the person's role."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from distributie import states
from distributie.accounts import Action
from distributie.operations.reports import RunView


@dataclass(frozen=True)
class RunAction:
    hook: str  # the data-action value: a public interface (README)
    label: str
    url: str
    needs: Action  # the role check; the page shows the action only to those allowed
    danger: bool = False


def retryable(view: RunView) -> int:
    return view.counts.get(states.FAILED, 0) + view.counts.get(states.UNKNOWN, 0)


def stoppable(view: RunView) -> int:
    """What Annuleren stops: recipients queued or waiting to be tried again."""
    return view.counts.get(states.QUEUED, 0) + view.counts.get(states.RETRYING, 0)


def run_actions(view: RunView) -> list[RunAction]:
    found = []
    if retryable(view):
        found.append(
            RunAction(
                "retry",
                f"Mislukte opnieuw versturen ({retryable(view)})",
                url_for("actions.retry", run=view.run),
                Action.RETRY,
            )
        )
    if stoppable(view):
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
