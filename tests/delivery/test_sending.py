"""RecipientSender in this process against the suite's Redis and a real SMTP server: the claim,
the message, the outcome and the order in which they happen."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from distributie import states
from distributie.compose.checking import check_mailing
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.delivery.sending import Later, RecipientSender
from distributie.delivery.transport import SMTPTransport
from distributie.errors import InvariantError
from distributie.ledger import Ledger
from distributie.operations.runs import create_run
from distributie.settings import Settings
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import write_recipients

ADDRESS = "burgemeester@g0001.example"


class Scheduled:
    """The retries a sender asks for, with the recipient's state at that moment."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.calls: list[tuple[str, str, int, float, str]] = []

    def __call__(self, run_id: str, key: str, seq: int, countdown: float) -> None:
        state = self.ledger.status(run_id, [key]).recipients[0].state
        self.calls.append((run_id, key, seq, countdown, state))


def _run(ledger: Ledger, tmp_path: Path, count: int = 1) -> str:
    checked = check_mailing(BUNDLED_MAILING, write_recipients(tmp_path / "l.csv", count), 10**7)
    return create_run(ledger, checked, checked.recipients.recipients, "test", "smtp")


def _sender(ledger: Ledger, server: RecordingSMTPServer, **overrides: Any) -> RecipientSender:
    settings: Settings = server.settings(**{"retry_delay": 0.2, **overrides})
    return RecipientSender(settings, ledger, SMTPTransport(settings))


def _recipient(ledger: Ledger, run_id: str, key: str = "gemeente-0001") -> Any:
    return ledger.status(run_id, [key]).recipients[0]


def test_a_claimed_recipient_is_sent_and_recorded_with_its_message_id(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path)

    later = _sender(ledger, smtp_server).send(run_id, "gemeente-0001", 1, Scheduled(ledger))

    recipient = _recipient(ledger, run_id)
    assert later is None
    assert recipient.state == states.SENT
    assert [m.message_id for m in smtp_server.messages] == [recipient.message_id]
    assert recipient.last_reply.startswith("250")


def test_a_refused_recipient_fails_with_the_servers_reply(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.refuse(ADDRESS, 550)
    run_id = _run(ledger, tmp_path)

    _sender(ledger, smtp_server).send(run_id, "gemeente-0001", 1, Scheduled(ledger))

    recipient = _recipient(ledger, run_id)
    assert recipient.state == states.FAILED
    assert recipient.last_reply.startswith("550 5.1.1")


def test_a_temporary_refusal_schedules_the_retry_before_recording_it(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.fail_rcpt(ADDRESS, code=451)
    run_id = _run(ledger, tmp_path)
    scheduled = Scheduled(ledger)

    _sender(ledger, smtp_server).send(run_id, "gemeente-0001", 1, scheduled)

    [(_, key, seq, countdown, state_then)] = scheduled.calls
    assert (key, seq) == ("gemeente-0001", 2)
    assert 0 < countdown <= 0.2 * 1.2
    # A crash between the two leaves a spare task, never a recipient nobody sends.
    assert state_then == states.SENDING
    assert _recipient(ledger, run_id).state == states.RETRYING


def test_the_retry_is_sent_with_the_scheduled_sequence_number(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.fail_rcpt(ADDRESS, code=451)
    run_id = _run(ledger, tmp_path)
    sender = _sender(ledger, smtp_server, retry_delay=0)
    scheduled = Scheduled(ledger)
    sender.send(run_id, "gemeente-0001", 1, scheduled)

    stale = sender.send(run_id, "gemeente-0001", 1, scheduled)
    retried = sender.send(run_id, "gemeente-0001", scheduled.calls[0][2], scheduled)

    assert stale is None and retried is None
    assert _recipient(ledger, run_id).state == states.SENT
    assert len(smtp_server.messages) == 1


def test_a_temporary_refusal_on_the_last_attempt_fails_saying_so(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    smtp_server.plan.fail_rcpt(ADDRESS, code=451)
    run_id = _run(ledger, tmp_path)
    scheduled = Scheduled(ledger)

    _sender(ledger, smtp_server, max_attempts=1).send(run_id, "gemeente-0001", 1, scheduled)

    recipient = _recipient(ledger, run_id)
    assert scheduled.calls == []
    assert recipient.state == states.FAILED
    assert recipient.last_reply.startswith("gave up after 1 attempts: 451")


def test_a_message_over_the_size_limit_fails_without_talking_to_the_server(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path)

    sender = _sender(ledger, smtp_server, max_message_bytes=1000)
    sender.send(run_id, "gemeente-0001", 1, Scheduled(ledger))

    recipient = _recipient(ledger, run_id)
    assert recipient.state == states.FAILED
    # The text body alone renders more than 1,000 characters: the template bound (issue 9) says
    # so before the message is built.
    assert recipient.last_reply == (
        "bericht.txt.j2: renders more than 1,000 characters, more than a whole message may hold "
        "(DISTRIBUTIE_MAX_MESSAGE_BYTES)"
    )
    assert smtp_server.connections == 0


def test_a_built_message_over_the_size_limit_fails_without_talking_to_the_server(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path)

    # Every template renders within 30,000 characters; the message with its .docx does not fit.
    sender = _sender(ledger, smtp_server, max_message_bytes=30_000)
    sender.send(run_id, "gemeente-0001", 1, Scheduled(ledger))

    recipient = _recipient(ledger, run_id)
    assert recipient.state == states.FAILED
    assert "DISTRIBUTIE_MAX_MESSAGE_BYTES=30000" in recipient.last_reply
    assert smtp_server.connections == 0


def test_a_task_for_a_recipient_already_sent_sends_nothing(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path)
    sender = _sender(ledger, smtp_server)

    sender.send(run_id, "gemeente-0001", 1, Scheduled(ledger))
    again = sender.send(run_id, "gemeente-0001", 1, Scheduled(ledger))

    assert again is None
    assert len(smtp_server.messages) == 1


def test_a_recipient_held_by_a_live_worker_elsewhere_is_tried_after_its_lease(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path)
    ledger.claim(run_id, "gemeente-0001", 1, "another-host:1", lease=30)

    later = _sender(ledger, smtp_server).send(run_id, "gemeente-0001", 1, Scheduled(ledger))

    assert isinstance(later, Later)
    assert later.seq == 1
    assert 29 < later.countdown <= 31
    assert smtp_server.messages == []


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over_at_once_and_logged(
    ledger: Ledger,
    smtp_server: RecordingSMTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run_id = _run(ledger, tmp_path)
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    ledger.claim(run_id, "gemeente-0001", 1, dead, lease=300)

    with caplog.at_level(logging.INFO, logger="distributie"):
        later = _sender(ledger, smtp_server).send(run_id, "gemeente-0001", 1, Scheduled(ledger))

    recipient = ledger.status(run_id, ["gemeente-0001"]).recipients[0]
    assert later is None
    assert recipient.state == states.SENT
    assert any(h["outcome"] == states.OUTCOME_WORKER_LOST for h in recipient.history)
    [takeover] = [r for r in caplog.records if "took over" in r.getMessage()]
    assert takeover.__dict__["lost_worker"] == dead


def test_every_attempt_is_logged_with_its_run_gemeente_number_outcome_code_and_time(
    ledger: Ledger,
    smtp_server: RecordingSMTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.plan.fail_rcpt(ADDRESS, code=451)
    run_id = _run(ledger, tmp_path)
    sender = _sender(ledger, smtp_server, retry_delay=0)
    scheduled = Scheduled(ledger)

    with caplog.at_level(logging.INFO, logger="distributie"):
        sender.send(run_id, "gemeente-0001", 1, scheduled)
        sender.send(run_id, "gemeente-0001", scheduled.calls[0][2], scheduled)

    attempts = [r.__dict__ for r in caplog.records if r.getMessage() == "attempt"]
    assert [(a["run"], a["gemeente"], a["attempt"]) for a in attempts] == [
        (run_id, "gemeente-0001", 1),
        (run_id, "gemeente-0001", 2),
    ]
    assert [(a["outcome"], a["code"]) for a in attempts] == [
        (states.OUTCOME_TRANSIENT, 451),
        (states.OUTCOME_ACCEPTED, 250),
    ]
    assert all(isinstance(a["ms"], int) and a["ms"] >= 0 for a in attempts)


def _script_calls(ledger: Ledger) -> int:
    stats = ledger.client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def test_a_batch_claims_each_next_recipient_with_the_last_outcome(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path, count=4)
    sender = _sender(ledger, smtp_server)
    keys = ["gemeente-0001", "gemeente-0002", "gemeente-0003", "gemeente-0004"]
    # The first two load the scripts into Redis (a load is an extra call).
    sender.send(run_id, keys[0], 1, Scheduled(ledger), then=(keys[1], 1))
    sender.send(run_id, keys[1], 1, Scheduled(ledger))
    ledger.client.config_resetstat()

    sender.send(run_id, keys[2], 1, Scheduled(ledger), then=(keys[3], 1))
    claimed_ahead = _recipient(ledger, run_id, keys[3])
    sender.send(run_id, keys[3], 1, Scheduled(ledger))

    # Claim, end of DATA, finish with the next claim; end of DATA, finish: 5 instead of 6.
    assert _script_calls(ledger) == 5
    assert claimed_ahead.state == states.SENDING
    assert [r.state for r in ledger.status(run_id, keys).recipients] == [states.SENT] * 4
    assert len(smtp_server.messages) == 4


def test_a_claim_made_ahead_for_another_recipient_than_the_next_is_a_bug(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = _run(ledger, tmp_path, count=3)
    sender = _sender(ledger, smtp_server)
    sender.send(run_id, "gemeente-0001", 1, Scheduled(ledger), then=("gemeente-0002", 1))

    with pytest.raises(InvariantError):
        sender.send(run_id, "gemeente-0003", 1, Scheduled(ledger))
