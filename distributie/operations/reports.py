"""What a run looks like from outside: its status as JSON and CSV, and a summary of every run.

The JSON shapes and CSV columns are a public interface (README): change them only compatibly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, TextIO

from distributie import states
from distributie.compose.recipients import recipient_key
from distributie.ledger import Ledger, RecipientStatus, RunControl, RunStatus
from distributie.operations.csvsafe import FORMULA_STARTS, write_csv

__all__ = [
    "PAGE_SIZE",
    "STATUS_CSV_COLUMNS",
    "RecipientStatus",
    "RunControl",
    "RunStatus",
    "RunSummary",
    "RunView",
    "local_time",
    "only_states",
    "recipient_history",
    "run_status",
    "run_summaries",
    "run_view",
    "status_json",
    "status_rows",
    "write_status_csv",
    "write_status_xlsx",
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


def write_status_xlsx(stream: IO[bytes], recipients: Iterable[RecipientStatus]) -> None:
    """The rows of `status --csv` as an Excel workbook. Every text is a text cell, and one that
    looks like a formula is marked as typed text (Excel's leading '), so no cell ever runs."""
    from openpyxl import Workbook  # slow to import; only this report needs it
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import Cell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Verzending")

    def cell(value: object) -> Cell:
        if value is None or isinstance(value, int):
            return WriteOnlyCell(sheet, value=value)
        text = str(value)
        made = WriteOnlyCell(sheet, value=text)
        made.data_type = "s"  # never "f", whatever the text starts with
        if text.startswith(FORMULA_STARTS):
            made.quotePrefix = True
        return made

    sheet.append([cell(name) for name in STATUS_CSV_COLUMNS])
    for row in status_rows(recipients):
        sheet.append([cell(value) for value in row])
    workbook.save(stream)


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


PAGE_SIZE = 50


@dataclass(frozen=True)
class RunView:
    """What a page that follows a run shows: the run, its counts, and one page of recipients
    (filtered by state and by a part of the gemeente's name)."""

    run: str
    info: dict[str, str]  # every field of the run (later features add their own)
    counts: dict[str, int]
    state: str | None
    search: str
    page: int
    pages: int
    matched: int
    recipients: list[RecipientStatus]

    @property
    def total(self) -> int:
        return int(self.info.get("total") or 0)

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in states.TERMINAL_STATES)

    @property
    def finished(self) -> bool:
        """Every recipient is sent, failed, unknown or cancelled: nothing changes on its own."""
        return not any(self.counts.get(s, 0) for s in states.PENDING_STATES)


def run_view(
    ledger: Ledger,
    run_id: str,
    state: str | None = None,
    search: str = "",
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> RunView | None:
    """One page of a run's recipients with its counts, or None when there is no such run.

    Reads only that page (one Redis command), so it costs the same for 39 recipients as for
    10,000; a filter is applied inside Redis. A page past the last is the last.
    """
    wanted = state if state in states.ALL_STATES else ""
    fragment = recipient_key(search)  # the key is a slug of the gemeente: "Wijk bij" matches
    page = max(1, page)
    found = ledger.page(run_id, (page - 1) * per_page, per_page, wanted, fragment)
    if not found.info:
        return None
    pages = max(1, -(-found.matched // per_page))
    if page > pages:
        page = pages
        found = ledger.page(run_id, (page - 1) * per_page, per_page, wanted, fragment)
    return RunView(
        run=run_id,
        info=found.info,
        counts=found.counts,
        state=wanted or None,
        search=search.strip(),
        page=page,
        pages=pages,
        matched=found.matched,
        recipients=found.recipients,
    )


def run_status(ledger: Ledger, run_id: str, keys: Sequence[str] | None = None) -> RunStatus | None:
    """A run with its recipients (all, or those of `keys`) without their histories, or None
    when there is no such run."""
    if not ledger.run_exists(run_id):
        return None
    return ledger.status(run_id, keys, with_history=False)


def recipient_history(ledger: Ledger, run_id: str, key: str) -> RecipientStatus | None:
    """One recipient of a run with its full history, or None when the run does not have it."""
    if not ledger.run_exists(run_id):
        return None
    [recipient] = ledger.status(run_id, [key]).recipients
    return recipient if recipient.state else None
