"""What the ledger keeps of a sent message and of the reports that come back, against a real
Redis: the record of each attempt's bytes, the state `bounced`, events that leave the state, and
one recording per report however often it is processed."""

from __future__ import annotations

import pytest

from distributie import states
from distributie.ledger import Claim, Ledger, RecipientStatus, Requeued, SentMessage
from distributie.ledger.keys import counts_key
from distributie.ledger.records import ReportEvent
from tests.support.ledger import create_test_run

RUN = "run-1"


def _sent(ledger: Ledger, key: str = "g1", seq: int = 1, email: str = "b@g1.example") -> Claim:
    """Claim, mark the end of DATA with its record, and finish `sent`."""
    claim = ledger.claim(RUN, key, seq, "worker-a", 30)
    assert isinstance(claim, Claim), claim
    record = SentMessage(
        attempt=claim.attempt,
        resend=claim.resend,
        message_id=f"<{RUN}.{key}.{claim.resend}@x.example>",
        email=email,
        date="Fri, 04 Oct 2019 14:25:01 +0200",
        sha256=f"{claim.attempt:064x}",
        size=1000 + claim.attempt,
    )
    assert ledger.mark_end_of_data(RUN, key, claim.claim, 30, sent=record) == 0
    ledger.finish(
        RUN, key, claim.claim, "worker-a", outcome=states.OUTCOME_ACCEPTED, state=states.SENT,
        reply="250 2.0.0 OK", code=250, message_id=record.message_id,
    )  # fmt: skip
    return claim


def _event(
    outcome: str = states.OUTCOME_BOUNCE, report: str = "<r1@mx>", **kw: object
) -> ReportEvent:
    values: dict[str, object] = {
        "report_id": report,
        "run": RUN,
        "key": "g1",
        "outcome": outcome,
        "method": "message_id",
        "kind": "dsn",
        "reply": "550 5.1.1 <b@g1.example>: User unknown",
        "status": "5.1.1",
        "code": 550,
    }
    values.update(kw)
    return ReportEvent(**values)  # type: ignore[arg-type]


def _recipient(ledger: Ledger, key: str = "g1") -> RecipientStatus:
    return ledger.status(RUN, [key]).recipients[0]


@pytest.fixture
def run(ledger: Ledger) -> str:
    return create_test_run(ledger, 2)


def test_the_end_of_data_records_what_each_attempt_handed_over(ledger: Ledger, run: str) -> None:
    _sent(ledger)

    [record] = ledger.sent_messages(RUN, "g1")

    assert (record.attempt, record.resend, record.email) == (1, 0, "b@g1.example")
    assert (record.sha256, record.size) == (f"{1:064x}", 1001)
    assert record.date == "Fri, 04 Oct 2019 14:25:01 +0200"
    assert record.at > 0


def test_the_end_of_data_indexes_the_message_by_its_address_in_any_case(
    ledger: Ledger, run: str
) -> None:
    _sent(ledger, email="B@G1.example")

    [sent] = ledger.sent_to("b@g1.EXAMPLE", since=0)

    assert (sent.run, sent.key, sent.resend) == (RUN, "g1", 0)


def test_a_bounce_of_the_current_send_makes_the_recipient_bounced_with_the_reason(
    ledger: Ledger, run: str
) -> None:
    _sent(ledger)

    got = ledger.record_report(_event(), "poller:1")

    recipient = _recipient(ledger)
    assert (got.verdict, got.state, got.gemeente) == ("recorded", "bounced", "Gemeente 1")
    assert recipient.state == states.BOUNCED
    assert recipient.last_reply == "550 5.1.1 <b@g1.example>: User unknown"
    assert ledger.counts(RUN)[states.SENT] == 0
    assert ledger.counts(RUN)[states.BOUNCED] == 1
    event = recipient.history[-1]
    assert event["outcome"] == "bounce"
    assert (event["status"], event["code"], event["method"]) == ("5.1.1", 550, "message_id")
    assert (event["attempt"], event["resend"], event["state"]) == (1, 0, "bounced")


def test_an_unknown_recipient_that_bounces_is_bounced(ledger: Ledger, run: str) -> None:
    claim = ledger.claim(RUN, "g1", 1, "worker-a", 30)
    assert isinstance(claim, Claim)
    ledger.mark_end_of_data(RUN, "g1", claim.claim, 30)
    ledger.finish(
        RUN, "g1", claim.claim, "worker-a", outcome="unknown", state=states.UNKNOWN,
        reply="connection lost", code=None, message_id="<m>",
    )  # fmt: skip

    ledger.record_report(_event(), "poller:1")

    assert _recipient(ledger).state == states.BOUNCED


@pytest.mark.parametrize("outcome", [states.OUTCOME_DELAYED, states.OUTCOME_AUTO_REPLY])
def test_a_delay_or_auto_reply_is_an_event_and_leaves_the_state(
    ledger: Ledger, run: str, outcome: str
) -> None:
    _sent(ledger)

    ledger.record_report(_event(outcome, reply="Ik ben afwezig", status=""), "poller:1")

    recipient = _recipient(ledger)
    assert recipient.state == states.SENT
    assert recipient.last_reply == "250 2.0.0 OK"
    assert (recipient.history[-1]["outcome"], recipient.history[-1]["reply"]) == (
        outcome,
        "Ik ben afwezig",
    )
    assert "status" not in recipient.history[-1]


def test_an_auto_reply_is_kept_on_the_recipient(ledger: Ledger, run: str) -> None:
    _sent(ledger)

    ledger.record_report(_event(states.OUTCOME_AUTO_REPLY, reply="Ik ben afwezig"), "poller:1")

    recipient = _recipient(ledger)
    assert recipient.auto_reply == "Ik ben afwezig"
    assert recipient.auto_reply_at is not None
    assert _recipient(ledger, "g2").auto_reply_at is None


def test_the_same_report_twice_changes_nothing(ledger: Ledger, run: str) -> None:
    _sent(ledger)
    ledger.record_report(_event(), "poller:1")
    before = _recipient(ledger)
    counts = ledger.counts(RUN)

    again = ledger.record_report(_event(), "poller:2")

    assert (again.verdict, again.state) == ("already", "bounced")
    assert _recipient(ledger).history == before.history
    assert ledger.counts(RUN) == counts
    assert ledger.report_processed("<r1@mx>")


def test_a_bounce_of_an_older_send_is_an_event_of_that_send_and_the_state_follows_the_latest(
    ledger: Ledger, run: str
) -> None:
    _sent(ledger)
    requeued = ledger.requeue(RUN, "g1", "operator", "new@g1.example", "resend requested")
    assert isinstance(requeued, Requeued)
    _sent(ledger, seq=requeued.seq, email="new@g1.example")

    ledger.record_report(_event(resend=0, attempt=1), "poller:1")

    recipient = _recipient(ledger)
    assert recipient.state == states.SENT
    assert ledger.counts(RUN)[states.BOUNCED] == 0
    event = recipient.history[-1]
    assert (event["outcome"], event["resend"], event["attempt"]) == ("bounce", 0, 1)
    assert event["state"] == "sent"


def test_a_bounce_while_a_newer_attempt_is_under_way_leaves_it_to_that_attempt(
    ledger: Ledger, run: str
) -> None:
    ledger.claim(RUN, "g1", 1, "worker-a", 30)

    ledger.record_report(_event(), "poller:1")

    assert _recipient(ledger).state == states.SENDING


def test_a_report_for_a_recipient_that_does_not_exist_is_missing(ledger: Ledger, run: str) -> None:
    assert ledger.record_report(_event(key="nobody"), "poller:1").verdict == "missing"
    assert not ledger.report_processed("<r1@mx>")


def test_a_bounced_recipient_is_done_for_the_workers_and_open_to_a_resend(
    ledger: Ledger, run: str
) -> None:
    _sent(ledger)
    ledger.record_report(_event(), "poller:1")

    refused = ledger.claim(RUN, "g1", 1, "worker-a", 30)
    requeued = ledger.requeue(RUN, "g1", "operator", None, "resend requested")

    assert not isinstance(refused, Claim) and refused.reason == "done"
    assert isinstance(requeued, Requeued)
    assert _recipient(ledger).state == states.QUEUED


def test_counts_of_a_run_made_before_bounced_existed_read_it_as_zero(
    ledger: Ledger, run: str
) -> None:
    ledger.client.hdel(counts_key(RUN), states.BOUNCED)

    assert ledger.counts(RUN)[states.BOUNCED] == 0
    _sent(ledger)
    ledger.record_report(_event(), "poller:1")
    assert ledger.counts(RUN)[states.BOUNCED] == 1
