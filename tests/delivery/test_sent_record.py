"""What an attempt records at the end of DATA, against a real SMTP server and Redis: the sha256
and size of exactly the bytes the server received, the Date header used, per attempt."""

from __future__ import annotations

import hashlib
import time
from email.parser import BytesHeaderParser
from pathlib import Path

from distributie.compose.checking import check_mailing
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.delivery.sending import RecipientSender
from distributie.delivery.transport import SMTPTransport
from distributie.ledger import Ledger, Requeued
from distributie.operations.runs import create_run
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import write_recipients

KEY = "gemeente-0001"


def _run(ledger: Ledger, tmp_path: Path) -> str:
    checked = check_mailing(BUNDLED_MAILING, write_recipients(tmp_path / "l.csv", 1), 10**7)
    return create_run(ledger, checked, checked.recipients.recipients, "test", "smtp")


def _send(ledger: Ledger, server: RecordingSMTPServer, run_id: str, seq: int = 1) -> None:
    settings = server.settings(retry_delay=0.2)
    sender = RecipientSender(settings, ledger, SMTPTransport(settings))
    try:
        later = sender.send(run_id, KEY, seq, lambda *args: None)
        if later is not None:  # the retry's backoff
            time.sleep(later.countdown)
            sender.send(run_id, KEY, later.seq, lambda *args: None)
    finally:
        sender.transport.close()


def test_the_record_is_of_exactly_the_bytes_the_server_received(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path)

    _send(ledger, smtp_server, run_id)

    [received] = smtp_server.messages
    [record] = ledger.sent_messages(run_id, KEY)
    assert record.sha256 == hashlib.sha256(received.data).hexdigest()
    assert record.size == len(received.data)
    assert record.date == BytesHeaderParser().parsebytes(received.data)["Date"]
    assert (record.message_id, record.email) == (received.message_id, received.rcpt_tos[0])
    assert record.prefix == ""


def test_each_attempt_that_sent_the_end_of_data_keeps_its_own_record(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.fail_data(code=451, times=1)  # refused after the dot: sent again
    run_id = _run(ledger, tmp_path)

    _send(ledger, smtp_server, run_id)
    _send(ledger, smtp_server, run_id, seq=2)

    records = ledger.sent_messages(run_id, KEY)
    assert [(r.attempt, r.resend) for r in records] == [(1, 0), (2, 0)]
    assert records[1].sha256 == hashlib.sha256(smtp_server.messages[0].data).hexdigest()


def test_a_resend_keeps_its_own_record_beside_the_first_send(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path)
    _send(ledger, smtp_server, run_id)
    requeued = ledger.requeue(run_id, KEY, "operator", "nieuw@g0001.example", "resend requested")
    assert isinstance(requeued, Requeued)

    _send(ledger, smtp_server, run_id, seq=requeued.seq)

    first, resend = ledger.sent_messages(run_id, KEY)
    assert (first.resend, first.email) == (0, "burgemeester@g0001.example")
    assert (resend.resend, resend.email) == (1, "nieuw@g0001.example")
    assert [r.sha256 for r in (first, resend)] == [
        hashlib.sha256(m.data).hexdigest() for m in smtp_server.messages
    ]


def test_an_attempt_refused_before_the_end_of_data_records_nothing(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.refuse("burgemeester@g0001.example", 550)
    run_id = _run(ledger, tmp_path)

    _send(ledger, smtp_server, run_id)

    assert ledger.sent_messages(run_id, KEY) == []
