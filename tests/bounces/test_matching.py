"""Matching a report to its recipient against a real ledger, by each method in the issue's
order: Message-ID (returned original, then In-Reply-To/References), X-Distributie headers, and
the failed address within DISTRIBUTIE_BOUNCE_MATCH_DAYS."""

from __future__ import annotations

import time

from distributie import states
from distributie.bounces import Outcome, RecipientStatus, Report, ReportKind, ReturnedOriginal
from distributie.bounces.matching import Match, Matcher
from distributie.ledger import Claim, Ledger, Requeued, SentMessage
from tests.support.ledger import create_test_run

DAY = 86400.0


def _send(ledger: Ledger, run: str, key: str, seq: int = 1, email: str | None = None) -> None:
    claim = ledger.claim(run, key, seq, "worker-a", 30)
    assert isinstance(claim, Claim), claim
    record = SentMessage(
        attempt=claim.attempt,
        resend=claim.resend,
        message_id=f"<{run}.{key}.{claim.resend}@x.example>",
        email=email or claim.email,
        date="Fri, 04 Oct 2019 14:25:01 +0200",
        sha256="0" * 64,
        size=10,
    )
    ledger.mark_end_of_data(run, key, claim.claim, 30, sent=record)
    ledger.finish(
        run, key, claim.claim, "worker-a", outcome="accepted", state=states.SENT, reply="250 OK",
        code=250, message_id=record.message_id,
    )  # fmt: skip


def _bounce(
    original: ReturnedOriginal | None = None,
    in_reply_to: tuple[str, ...] = (),
    address: str | None = None,
) -> Report:
    recipient = RecipientStatus(address, action="failed", status="5.1.1", outcome=Outcome.BOUNCE)
    return Report(
        ReportKind.DSN,
        "<report@mx>",
        outcome=Outcome.BOUNCE,
        recipients=(recipient,),
        original=original,
        in_reply_to=in_reply_to,
    )


def test_the_returned_original_message_id_names_recipient_send_and_attempt(
    ledger: Ledger,
) -> None:
    run = create_test_run(ledger, 2, run_id="20191004-142501-7f3a")
    _send(ledger, run, "g2")
    report = _bounce(ReturnedOriginal(message_id=f"<{run}.g2.0@x.example>"))

    found = Matcher(ledger, 14).match(report)

    assert found == Match(run, "g2", "message_id", resend=0, attempt=1)


def test_in_reply_to_is_the_same_first_method_without_a_returned_original(
    ledger: Ledger,
) -> None:
    run = create_test_run(ledger, 2, run_id="20191004-142501-7f3a")
    _send(ledger, run, "g1")

    found = Matcher(ledger, 14).match(_bounce(in_reply_to=(f"<{run}.g1.0@x.example>",)))

    assert found == Match(run, "g1", "in_reply_to", resend=0, attempt=1)


def test_a_message_id_of_a_send_the_recipient_never_had_is_not_a_match(ledger: Ledger) -> None:
    run = create_test_run(ledger, 1, run_id="20191004-142501-7f3a")
    _send(ledger, run, "g1")

    found = Matcher(ledger, 14).match(_bounce(ReturnedOriginal(f"<{run}.g1.3@x.example>")))

    assert found is None


def test_the_distributie_headers_come_second_and_name_the_current_send(ledger: Ledger) -> None:
    run = create_test_run(ledger, 2, run_id="20191004-142501-7f3a")
    _send(ledger, run, "g2")
    original = ReturnedOriginal(
        message_id="<rewritten-by-a-relay@relay.example>", run=run, recipient="Gemeente 2"
    )

    found = Matcher(ledger, 14).match(_bounce(original))

    assert found == Match(run, "g2", "distributie_headers")


def test_headers_naming_a_run_that_does_not_exist_are_not_a_match(ledger: Ledger) -> None:
    create_test_run(ledger, 1, run_id="20191004-142501-7f3a")
    original = ReturnedOriginal(run="20191004-000000-0000", recipient="Gemeente 1")

    assert Matcher(ledger, 14).match(_bounce(original)) is None


def test_the_failed_address_matches_the_latest_run_sent_to_it(ledger: Ledger) -> None:
    older = create_test_run(ledger, 1, run_id="20191001-090000-aaaa")
    newer = create_test_run(ledger, 1, run_id="20191004-090000-bbbb")
    _send(ledger, older, "g1")
    _send(ledger, newer, "g1")

    found = Matcher(ledger, 14).match(_bounce(address="b@g1.example"))

    assert found == Match(newer, "g1", "final_recipient", resend=0, attempt=1)


def test_the_failed_address_names_the_send_that_went_to_it(ledger: Ledger) -> None:
    run = create_test_run(ledger, 1, run_id="20191004-142501-7f3a")
    _send(ledger, run, "g1")
    requeued = ledger.requeue(run, "g1", "operator", "nieuw@g1.example", "resend requested")
    assert isinstance(requeued, Requeued)
    _send(ledger, run, "g1", seq=requeued.seq)

    found = Matcher(ledger, 14).match(_bounce(address="b@g1.example"))

    assert found == Match(run, "g1", "final_recipient", resend=0, attempt=1)


def test_an_address_sent_to_before_the_match_days_is_not_a_match(ledger: Ledger) -> None:
    run = create_test_run(ledger, 1, run_id="20191004-142501-7f3a")
    _send(ledger, run, "g1")
    fifteen_days_on = time.time() + 15 * DAY

    found = Matcher(ledger, 14, clock=lambda: fifteen_days_on).match(
        _bounce(address="b@g1.example")
    )

    assert found is None


def test_the_message_id_wins_over_the_headers_and_the_address(ledger: Ledger) -> None:
    run = create_test_run(ledger, 3, run_id="20191004-142501-7f3a")
    for key in ("g1", "g2", "g3"):
        _send(ledger, run, key)
    original = ReturnedOriginal(f"<{run}.g1.0@x.example>", run=run, recipient="Gemeente 2")

    found = Matcher(ledger, 14).match(_bounce(original, address="b@g3.example"))

    assert found is not None and (found.key, found.method) == ("g1", "message_id")


def test_a_report_that_names_nothing_of_ours_matches_nobody(ledger: Ledger) -> None:
    create_test_run(ledger, 1, run_id="20191004-142501-7f3a")

    found = Matcher(ledger, 14).match(
        _bounce(ReturnedOriginal("<abc@elsewhere.example>"), address="someone@else.example")
    )

    assert found is None
