"""What a run looks like from outside: the public JSON shape, the CSV and the run summaries."""

from __future__ import annotations

import csv
import io
import zipfile

import openpyxl

from distributie import states
from distributie.compose.mailing import MailingBundle
from distributie.compose.recipients import recipient_key
from distributie.ledger import Claim, Ledger, NewRecipient, NewRun
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


def test_run_view_reads_one_page_of_recipients_in_list_order_with_the_counts(
    ledger: Ledger,
) -> None:
    run_id = create_test_run(ledger, count=120)
    ledger.cancel(run_id, "g1", "test")

    view = reports.run_view(ledger, run_id, page=2, per_page=50)

    assert view is not None
    assert [r.key for r in view.recipients] == [f"g{n}" for n in range(51, 101)]
    assert (view.page, view.pages, view.matched, view.total) == (2, 3, 120, 120)
    assert view.counts[states.QUEUED] == 119
    assert view.counts[states.CANCELLED] == 1
    assert view.info["created_by"] == "test"
    assert not view.finished


def _run_of(ledger: Ledger, names: list[str]) -> str:
    """A run whose recipients are these gemeenten, keyed as `send` keys them."""
    run = NewRun("run-n", "Test", "/tmp", "list.csv", "abc", "test", "outbox")
    people = [
        NewRecipient(recipient_key(name), name, f"b@{recipient_key(name)}.example", {})
        for name in names
    ]
    bundle = MailingBundle({"mailing.toml": b"name = 'x'"})
    ledger.create_run(run, bundle, people, lambda key, resend: f"<{key}.{resend}@x.example>")
    return run.id


def test_run_view_filters_by_state_and_by_part_of_the_gemeente_name(ledger: Ledger) -> None:
    names = ["Wijk bij Duurstede", "Súdwest-Fryslân", "Bunnik", "Wijdemeren", "Zeist"]
    run_id = _run_of(ledger, names)
    for key in ("bunnik", "wijdemeren"):
        ledger.cancel(run_id, key, "test")

    cancelled = reports.run_view(ledger, run_id, state=states.CANCELLED)
    named = reports.run_view(ledger, run_id, search="wijk BIJ")
    accented = reports.run_view(ledger, run_id, search="sudwest")
    both = reports.run_view(ledger, run_id, state=states.CANCELLED, search="Wij")

    assert cancelled is not None and named is not None
    assert accented is not None and both is not None
    assert [r.key for r in cancelled.recipients] == ["bunnik", "wijdemeren"]
    assert [r.gemeente for r in named.recipients] == ["Wijk bij Duurstede"]
    assert [r.gemeente for r in accented.recipients] == ["Súdwest-Fryslân"]
    assert [r.key for r in both.recipients] == ["wijdemeren"]
    assert both.matched == 1


def test_run_view_past_the_last_page_shows_the_last(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=7)

    view = reports.run_view(ledger, run_id, page=9, per_page=5)

    assert view is not None
    assert view.page == 2
    assert [r.key for r in view.recipients] == ["g6", "g7"]


def test_run_view_of_a_run_that_does_not_exist_is_none(ledger: Ledger) -> None:
    assert reports.run_view(ledger, "20190101-000000-0000") is None


def test_a_finished_run_view_says_so(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=2)
    for key in ("g1", "g2"):
        ledger.cancel(run_id, key, "test")

    view = reports.run_view(ledger, run_id)

    assert view is not None and view.finished and view.done == 2


def test_recipient_history_is_one_recipient_with_every_event(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=2)
    ledger.cancel(run_id, "g2", "anna")

    found = reports.recipient_history(ledger, run_id, "g2")

    assert found is not None
    assert [e["outcome"] for e in found.history] == ["queued", "cancelled"]
    assert found.history[-1]["worker"] == "anna"
    assert reports.recipient_history(ledger, run_id, "g9") is None
    assert reports.recipient_history(ledger, "no-such-run", "g1") is None


def test_the_xlsx_report_has_the_csv_columns_and_no_cell_is_a_formula(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=1)
    claim = ledger.claim(run_id, "g1", 1, "test:1", lease=30)
    assert isinstance(claim, Claim)
    ledger.finish(
        run_id, "g1", claim.claim, "test:1", outcome="permanent", state=states.FAILED,
        reply="=HYPERLINK(\"http://x.example\")", code=550, message_id="<m@x>",
    )  # fmt: skip
    data = io.BytesIO()

    reports.write_status_xlsx(data, ledger.status(run_id).recipients)

    sheet = openpyxl.load_workbook(io.BytesIO(data.getvalue())).worksheets[0]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == list(reports.STATUS_CSV_COLUMNS)
    assert rows[1][:5] == [
        "Gemeente 1",
        "b@g1.example",
        "failed",
        1,
        '=HYPERLINK("http://x.example")',
    ]
    reply = sheet.cell(row=2, column=5)
    assert reply.data_type == "s" and reply.quotePrefix
    with zipfile.ZipFile(io.BytesIO(data.getvalue())) as workbook:
        assert "<f>" not in workbook.read("xl/worksheets/sheet1.xml").decode()


def test_run_status_is_the_run_with_the_recipients_asked_for_or_none(ledger: Ledger) -> None:
    run_id = create_test_run(ledger, count=3)

    whole = reports.run_status(ledger, run_id)
    only_the_run = reports.run_status(ledger, run_id, keys=[])

    assert whole is not None and [r.key for r in whole.recipients] == ["g1", "g2", "g3"]
    assert only_the_run is not None and only_the_run.recipients == []
    assert only_the_run.created_by == "test"
    assert reports.run_status(ledger, "no-such-run") is None
