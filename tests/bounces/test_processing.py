"""Reading the bounce mailbox into the ledger, against a real IMAP server (pymap) and a real
Redis: what is recorded moves to distributie/verwerkt only after it is recorded, the rest to
distributie/onbekend, nothing is deleted, a report processed twice changes nothing, and one
poller reads at a time."""

from __future__ import annotations

import pytest

from distributie import states
from distributie.bounces.poller import BouncePoller, read_once, token_source
from distributie.bounces.processing import Handled, PollerBusy, one_poller
from distributie.ledger import Claim, Ledger, RecipientStatus, Requeued, SentMessage
from tests.support.imap import TestIMAPServer
from tests.support.ledger import create_test_run
from tests.support.oauth import TokenEndpoint
from tests.support.reports import dsn, out_of_office

RUN = "20191004-142501-7f3a"
PROCESSED = "distributie/verwerkt"
UNKNOWN = "distributie/onbekend"
PERSON = (
    b"From: Jan <jan@baarn.example>\r\nTo: secretariaat@x.example\r\nSubject: Re: strategie\r\n"
    b"Message-ID: <person-1@baarn.example>\r\n\r\nDank voor de stukken, ik kom erop terug.\r\n"
)


def original(key: str, resend: int = 0) -> bytes:
    """The header section of what was sent to recipient `key` of RUN (as create_test_run)."""
    number = key.removeprefix("g")
    return (
        f"From: Secretariaat <secretariaat@x.example>\r\n"
        f"To: Burgemeester <b@{key}.example>\r\nSubject: Strategie\r\n"
        f"Date: Fri, 04 Oct 2019 14:25:01 +0200\r\nMessage-ID: <{RUN}.{key}.{resend}@x.example>\r\n"
        f"X-Distributie-Run: {RUN}\r\nX-Distributie-Recipient: Gemeente {number}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nDe strategie.\r\n"
    ).encode()


@pytest.fixture
def sent_run(ledger: Ledger) -> str:
    """RUN with three recipients g1..g3, each sent (end of DATA recorded, accepted)."""
    create_test_run(ledger, 3, run_id=RUN)
    for key in ("g1", "g2", "g3"):
        claim = ledger.claim(RUN, key, 1, "worker-a", 30)
        assert isinstance(claim, Claim)
        record = SentMessage(1, 0, f"<{RUN}.{key}.0@x.example>", claim.email, "x", "0" * 64, 1)
        ledger.mark_end_of_data(RUN, key, claim.claim, 30, sent=record)
        ledger.finish(
            RUN, key, claim.claim, "worker-a", outcome="accepted", state=states.SENT,
            reply="250 OK", code=250, message_id=record.message_id,
        )  # fmt: skip
    return RUN


def _recipient(ledger: Ledger, key: str) -> RecipientStatus:
    return ledger.status(RUN, [key]).recipients[0]


def _raws(imap: TestIMAPServer, folder: str) -> list[bytes]:
    return [m.raw for m in imap.messages(folder)]


def test_reports_are_recorded_and_sorted_into_their_folders_and_nothing_is_deleted(
    ledger: Ledger, sent_run: str, imap_server: TestIMAPServer
) -> None:
    bounce, away = dsn(original("g1")), out_of_office(original("g2"))
    stranger = dsn(original("g9").replace(RUN.encode(), b"20190101-000000-dead"))
    junk = b"\x00\xff" * 100
    imap_server.append_all("INBOX", [bounce, away, PERSON, stranger, junk])

    result = read_once(imap_server.settings(), ledger, "poller:1", None)

    assert _raws(imap_server, PROCESSED) == [bounce, away]
    assert _raws(imap_server, UNKNOWN) == [PERSON, stranger, junk]
    assert imap_server.messages("INBOX") == []
    assert _recipient(ledger, "g1").state == states.BOUNCED
    assert _recipient(ledger, "g2").auto_reply.startswith("Ik ben afwezig")
    assert [h.outcome for h in result.recorded] == ["bounce", "auto_reply"]
    assert [h.reply for h in result.set_aside] == [
        "says nothing about a delivery (no bounce, delay or auto-reply)",
        "matches no recipient of any run",
        result.set_aside[2].reply,
    ]
    assert result.set_aside[2].kind == "unreadable"


def test_the_same_report_read_again_changes_nothing(
    ledger: Ledger, sent_run: str, imap_server: TestIMAPServer
) -> None:
    bounce = dsn(original("g1"))
    imap_server.append("INBOX", bounce)
    read_once(imap_server.settings(), ledger, "poller:1", None)
    history = _recipient(ledger, "g1").history
    imap_server.append("INBOX", bounce)  # someone moved it back, or the server served it twice

    result = read_once(imap_server.settings(), ledger, "poller:1", None)

    assert [h.already for h in result.handled] == [True]
    assert _recipient(ledger, "g1").history == history
    assert ledger.counts(RUN)[states.BOUNCED] == 1
    assert _raws(imap_server, PROCESSED) == [bounce, bounce]


def test_a_crash_between_recording_and_moving_is_finished_by_the_next_pass(
    ledger: Ledger, sent_run: str, imap_server: TestIMAPServer
) -> None:
    bounce = dsn(original("g3"))
    imap_server.append("INBOX", bounce)

    def crash(handled: Handled) -> None:
        raise SystemExit("the poller's process is killed here")

    with pytest.raises(SystemExit):
        read_once(imap_server.settings(), ledger, "poller:1", None, recorded=crash)
    recorded = _recipient(ledger, "g3")
    assert recorded.state == states.BOUNCED
    assert _raws(imap_server, "INBOX") == [bounce]

    again = read_once(imap_server.settings(), ledger, "poller:2", None)

    assert [h.already for h in again.handled] == [True]
    assert _recipient(ledger, "g3").history == recorded.history
    assert _raws(imap_server, PROCESSED) == [bounce]
    assert imap_server.messages("INBOX") == []


def test_a_message_is_moved_only_after_it_is_recorded(
    ledger: Ledger, sent_run: str, imap_server: TestIMAPServer
) -> None:
    imap_server.append("INBOX", dsn(original("g2")))
    seen: list[tuple[str, int]] = []

    def look(handled: Handled) -> None:
        seen.append((_recipient(ledger, "g2").state, len(imap_server.messages("INBOX"))))

    read_once(imap_server.settings(), ledger, "poller:1", None, recorded=look)

    assert seen == [(states.BOUNCED, 1)]


def test_only_one_poller_reads_the_mailbox_at_a_time(
    ledger: Ledger, sent_run: str, imap_server: TestIMAPServer
) -> None:
    imap_server.append("INBOX", dsn(original("g1")))

    with one_poller(ledger.client), pytest.raises(PollerBusy):
        read_once(imap_server.settings(), ledger, "poller:2", None)

    assert len(imap_server.messages("INBOX")) == 1
    assert _recipient(ledger, "g1").state == states.SENT


def test_the_poller_duty_logs_an_unreachable_mailbox_and_tries_again_next_time(
    ledger: Ledger, sent_run: str, imap_server: TestIMAPServer, caplog: pytest.LogCaptureFixture
) -> None:
    poller = BouncePoller(imap_server.settings(bounce_imap_password="wrong"), ledger, "w:1")

    assert poller() is None
    assert "login refused" in caplog.text
    assert "wrong" not in caplog.text.replace("login refused", "")


def test_with_xoauth2_the_mailbox_is_read_with_a_token_from_the_token_endpoint(
    ledger: Ledger, sent_run: str, oauth_endpoint: TokenEndpoint
) -> None:
    with TestIMAPServer(xoauth2=True, token_check=oauth_endpoint.is_current) as imap:
        imap.append("INBOX", dsn(original("g1")))
        settings = imap.settings(
            bounce_imap_auth="xoauth2",
            bounce_imap_password=None,
            **oauth_endpoint.settings_values(),
        )

        read_once(settings, ledger, "poller:1", token_source(settings))

        assert imap.logins[1:] == [("xoauth2", imap.username)]  # [0]: the test's append
    assert oauth_endpoint.request_count == 1
    assert _recipient(ledger, "g1").state == states.BOUNCED


def test_a_bounce_of_a_send_that_was_since_resent_is_kept_on_that_send(
    ledger: Ledger, sent_run: str, imap_server: TestIMAPServer
) -> None:
    requeued = ledger.requeue(RUN, "g2", "operator", "nieuw@g2.example", "resend requested")
    assert isinstance(requeued, Requeued)
    claim = ledger.claim(RUN, "g2", requeued.seq, "worker-a", 30)
    assert isinstance(claim, Claim)
    record = SentMessage(2, 1, f"<{RUN}.g2.1@x.example>", "nieuw@g2.example", "x", "1" * 64, 1)
    ledger.mark_end_of_data(RUN, "g2", claim.claim, 30, sent=record)
    ledger.finish(
        RUN, "g2", claim.claim, "worker-a", outcome="accepted", state=states.SENT,
        reply="250 OK", code=250, message_id=record.message_id,
    )  # fmt: skip
    imap_server.append("INBOX", dsn(original("g2", resend=0)))

    read_once(imap_server.settings(), ledger, "poller:1", None)

    recipient = _recipient(ledger, "g2")
    assert recipient.state == states.SENT
    bounce = recipient.history[-1]
    assert (bounce["outcome"], bounce["resend"], bounce["attempt"]) == ("bounce", 0, 1)
