"""What a run looks like from outside: the public JSON shape, the CSV and the run summaries."""

from __future__ import annotations

import csv
import io

from distributie import states
from distributie.ledger import Claim, Ledger
from distributie.operations import reports
from tests.support.ledger import create_test_run


def test_status_json_has_the_public_shape(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=1)

    document = reports.status_json(ledger.status(run_id))

    assert set(document) == {
        "run",
        "mailing",
        "created_at",
        "created_by",
        "recipients_sha256",
        "templates_sha256",
        "recipients_path",
        "transport",
        "counts",
        "kind",
        "run_state",
        "approved_by",
        "approved_at",
        "scheduled_for",
        "released_at",
        "recipients",
    }
    assert list(document["counts"]) == list(states.ALL_STATES)  # type: ignore[call-overload]
    [recipient] = document["recipients"]  # type: ignore[misc]
    assert set(recipient) == {
        "gemeente",
        "email",
        "state",
        "attempts",
        "message_id",
        "last_reply",
        "updated_at",
        "waiting",
        "history",
        "auto_reply",  # added with the bounce mailbox (issue 12): None, or {"at", "reply"}
    }


def test_the_status_csv_has_its_columns_and_no_cell_runs_as_a_formula(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=1)
    claim = ledger.claim(run_id, "g1", 1, "test:1", lease=30)
    assert isinstance(claim, Claim)
    ledger.finish(
        run_id, "g1", claim.claim, "test:1", outcome="permanent", state=states.FAILED,
        reply="=HYPERLINK(\"http://x.example\")", code=550, message_id="<m@x>",
    )  # fmt: skip
    stream = io.StringIO()

    reports.write_status_csv(stream, ledger.status(run_id).recipients)

    rows = list(csv.reader(io.StringIO(stream.getvalue())))
    assert rows[0] == list(reports.STATUS_CSV_COLUMNS)
    assert rows[1][:4] == ["Gemeente 1", "b@g1.example", "failed", "1"]
    assert rows[1][4] == '\'=HYPERLINK("http://x.example")'


def test_only_states_keeps_the_recipients_in_those_states(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=2)
    ledger.cancel(run_id, "g2", "test")
    status = ledger.status(run_id)

    assert [r.key for r in reports.only_states(status, [states.CANCELLED])] == ["g2"]
    assert [r.key for r in reports.only_states(status, [])] == ["g1", "g2"]


def test_run_summaries_list_every_run_oldest_first_with_counts(ledger: Ledger) -> None:
    create_test_run(ledger, count=2, run_id="run-a")
    create_test_run(ledger, count=3, run_id="run-b")

    summaries = reports.run_summaries(ledger)

    assert [(s.run, s.total, s.counts[states.QUEUED]) for s in summaries] == [
        ("run-a", 2, 2),
        ("run-b", 3, 3),
    ]
    assert set(summaries[0].as_json()) == {
        "run",
        "mailing",
        "created_at",
        "created_by",
        "total",
        "counts",
        "kind",
        "run_state",
        "approved_by",
        "approved_at",
        "scheduled_for",
        "released_at",
    }
