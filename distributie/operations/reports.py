"""What a run looks like from outside: its status as JSON and CSV, and a summary of every run.

The JSON shapes and CSV columns are a public interface (README): change them only compatibly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from distributie import states
from distributie.ledger import Ledger, RecipientStatus, RunControl, RunStatus
from distributie.operations.csvsafe import write_csv

__all__ = [
    "STATUS_CSV_COLUMNS",
    "RecipientStatus",
    "RunControl",
    "RunStatus",
    "RunSummary",
    "local_time",
    "only_states",
    "run_summaries",
    "status_json",
    "status_rows",
    "write_status_csv",
]

STATUS_CSV_COLUMNS = (
    "gemeente",
    "email",
    "state",
    "attempts",
    "last_reply",
    "updated_at",
    "message_id",
)


def local_time(timestamp: float | None) -> str:
    """A ledger time as the operator's local clock shows it, or "" for none."""
    if not timestamp:
        return ""
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def control_json(control: RunControl, counts: dict[str, int]) -> dict[str, object]:
    """A run's kind and own state, in `status --json` and `runs --json`."""
    return {
        "kind": control.kind,
        "run_state": control.state(counts),
        "approved_by": control.approved_by or None,
        "approved_at": control.approved_at,
        "scheduled_for": control.release_at,
        "released_at": control.released_at,
    }


def status_json(status: RunStatus) -> dict[str, object]:
    """The public shape of `status --json`."""
    return {
        "run": status.run,
        "mailing": status.mailing,
        "created_at": status.created_at,
        "created_by": status.created_by,
        "recipients_sha256": status.recipients_sha256,
        "templates_sha256": status.templates_sha256,
        "recipients_path": status.recipients_path,
        "transport": status.transport,
        "counts": {s: status.counts.get(s, 0) for s in states.ALL_STATES},
        **control_json(status.control, status.counts),
        "recipients": [
            {
                "gemeente": r.gemeente,
                "email": r.email,
                "state": r.state,
                "attempts": r.attempts,
                "message_id": r.message_id,
                "last_reply": r.last_reply,
                "updated_at": r.updated_at,
                "waiting": r.waiting,
                "history": r.history,
                "auto_reply": _auto_reply(r),
            }
            for r in status.recipients
        ],
    }


def _auto_reply(recipient: RecipientStatus) -> dict[str, object] | None:
    """The latest automatic reply (out of office): when, and its first line; None if none."""
    if recipient.auto_reply_at is None:
        return None
    return {"at": recipient.auto_reply_at, "reply": recipient.auto_reply}


def status_rows(recipients: Iterable[RecipientStatus]) -> Iterable[list[object]]:
    """One row per recipient in the columns of STATUS_CSV_COLUMNS."""
    for r in recipients:
        yield [
            r.gemeente,
            r.email,
            r.state,
            r.attempts,
            r.last_reply,
            local_time(r.updated_at),
            r.message_id,
        ]


def write_status_csv(stream: TextIO, recipients: Iterable[RecipientStatus]) -> None:
    """`status --csv`: safe to open in Excel (no cell runs as a formula)."""
    write_csv(stream, STATUS_CSV_COLUMNS, status_rows(recipients))


def only_states(status: RunStatus, wanted: Sequence[str]) -> list[RecipientStatus]:
    return [r for r in status.recipients if not wanted or r.state in wanted]


@dataclass(frozen=True)
class RunSummary:
    run: str
    mailing: str
    created_at: float
    created_by: str
    total: int
    counts: dict[str, int]
    control: RunControl

    @property
    def run_state(self) -> str:
        return self.control.state(self.counts)

    def as_json(self) -> dict[str, Any]:
        """One entry of `runs --json`."""
        return {
            "run": self.run,
            "mailing": self.mailing,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "total": self.total,
            "counts": self.counts,
            **control_json(self.control, self.counts),
        }


def run_summaries(ledger: Ledger) -> list[RunSummary]:
    """Every run, oldest first, with its counts."""
    summaries = []
    for run_id in ledger.run_ids():
        info = ledger.run_info(run_id)
        summaries.append(
            RunSummary(
                run=run_id,
                mailing=info.get("mailing", ""),
                created_at=float(info.get("created_at") or 0),
                created_by=info.get("created_by", ""),
                total=int(info.get("total") or 0),
                counts=ledger.counts(run_id),
                control=RunControl.from_hash(info),
            )
        )
    return summaries
