"""RecipientSender with what Microsoft 365 and strict receivers need, against the suite's Redis and
real SMTP servers: every attempt DKIM-signed over its final bytes (verified with dkimpy), sending
on behalf of someone else, and signing in again for an expired token within one attempt."""

from __future__ import annotations

import email
import email.policy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim as dkimpy
import pytest
from dkim.util import parse_tag_value

from distributie import states
from distributie.compose.checking import check_mailing
from distributie.compose.dkim import DKIMSigner, load_key
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.delivery.sending import RecipientSender
from distributie.delivery.transport import SMTPTransport
from distributie.ledger import Ledger
from distributie.operations.runs import create_run
from tests.support.keys import write_rsa_key
from tests.support.mailings import replace_in
from tests.support.oauth import TokenEndpoint
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import write_recipients
from tests.support.xoauth2_smtp import XOAuth2SMTPServer

SELECTOR = "distributie2026"
MAILBOX_DOMAIN = "veiligheidscollege-mn.example"
CHAIR = "Voorzitter Veiligheidsberaad <voorzitter@veiligheidsberaad.example>"


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rsa_key(tmp_path_factory.mktemp("dkim") / "dkim.pem")


def dns_for(key_file: Path, domain: str) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook answering with the record `distributie dkim dns` says to publish."""
    key = load_key(key_file, "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")
    signer = DKIMSigner(selector=SELECTOR, domain=domain, key=key)
    records = {f"{r.name}.".encode(): "".join(r.strings()).encode() for r in signer.dns_records()}
    return lambda name, timeout=5: records.get(name)


def signature(data: bytes) -> dict[bytes, bytes]:
    headers, _ = dkimpy.rfc822_parse(data)
    [value] = [v for name, v in headers if name.lower() == b"dkim-signature"]
    return dict(parse_tag_value(value))


def start(ledger: Ledger, tmp_path: Path, mailing: Path = BUNDLED_MAILING, count: int = 1) -> str:
    checked = check_mailing(mailing, write_recipients(tmp_path / "l.csv", count), 10**7)
    return create_run(ledger, checked, checked.recipients.recipients, "test", "smtp")


def sender_for(ledger: Ledger, server: RecordingSMTPServer, **overrides: Any) -> RecipientSender:
    settings = server.settings(**overrides)
    return RecipientSender(settings, ledger, SMTPTransport(settings))


def no_retry(run_id: str, key: str, seq: int, countdown: float) -> None:
    raise AssertionError(f"no retry expected for {key}")


def test_every_message_sent_is_dkim_signed_and_verifies(
    ledger: Ledger, smtp_server: RecordingSMTPServer, dkim_key: Path, tmp_path: Path
) -> None:
    run_id = start(ledger, tmp_path, count=2)
    sender = sender_for(ledger, smtp_server, dkim_selector=SELECTOR, dkim_key_file=dkim_key)

    for key in ("gemeente-0001", "gemeente-0002"):
        sender.send(run_id, key, 1, no_retry)

    received = [m.data for m in smtp_server.messages]
    assert len(received) == 2
    dns = dns_for(dkim_key, MAILBOX_DOMAIN)
    for data in received:
        assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
        assert dkimpy.verify(data, dnsfunc=dns)
        assert signature(data)[b"d"] == MAILBOX_DOMAIN.encode()


def test_without_dkim_settings_nothing_is_signed(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = start(ledger, tmp_path)

    sender_for(ledger, smtp_server).send(run_id, "gemeente-0001", 1, no_retry)

    [message] = smtp_server.messages
    assert message.data.startswith(b"From: ")
    assert b"DKIM-Signature" not in message.data


def test_a_dkim_key_that_does_not_load_fails_the_recipient_and_sends_nothing(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    run_id = start(ledger, tmp_path)
    sender = sender_for(
        ledger, smtp_server, dkim_selector=SELECTOR, dkim_key_file=tmp_path / "missing.pem"
    )

    sender.send(run_id, "gemeente-0001", 1, no_retry)

    recipient = ledger.status(run_id, ["gemeente-0001"]).recipients[0]
    assert recipient.state == states.FAILED
    assert recipient.last_reply.startswith("DISTRIBUTIE_DKIM_KEY_FILE: cannot read ")
    assert smtp_server.messages == []
    assert smtp_server.connections == 0


def test_on_behalf_of_is_signed_for_the_from_domain_with_the_sender_header_signed(
    ledger: Ledger, smtp_server: RecordingSMTPServer, dkim_key: Path, tmp_path: Path
) -> None:
    mailing = tmp_path / "mailing"
    shutil.copytree(BUNDLED_MAILING, mailing)
    replace_in(
        mailing / "mailing.toml",
        'reply_to = "veiligheidsstrategie@veiligheidscollege-mn.example"',
        f'reply_to = "veiligheidsstrategie@veiligheidscollege-mn.example"\non_behalf_of = '
        f'"{CHAIR}"',
    )
    run_id = start(ledger, tmp_path, mailing)
    sender = sender_for(ledger, smtp_server, dkim_selector=SELECTOR, dkim_key_file=dkim_key)

    sender.send(run_id, "gemeente-0001", 1, no_retry)

    [message] = smtp_server.messages
    assert message.mail_from == f"secretariaat@{MAILBOX_DOMAIN}"
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert str(parsed["From"]) == CHAIR
    assert str(parsed["Sender"]) == (
        f"Regionaal Veiligheidscollege Midden-Nederland <secretariaat@{MAILBOX_DOMAIN}>"
    )
    tags = signature(message.data)
    assert tags[b"d"] == b"veiligheidsberaad.example"
    assert b"sender" in tags[b"h"].split(b":")
    assert dkimpy.verify(message.data, dnsfunc=dns_for(dkim_key, "veiligheidsberaad.example"))


@pytest.mark.parametrize("on_expired", ["535", "421"])
def test_signing_in_again_for_an_expired_token_is_the_same_attempt(
    ledger: Ledger,
    xoauth2_smtp_server: XOAuth2SMTPServer,
    oauth_endpoint: TokenEndpoint,
    tmp_path: Path,
    on_expired: Any,
) -> None:
    xoauth2_smtp_server.on_expired = on_expired
    run_id = start(ledger, tmp_path, count=2)
    sender = sender_for(ledger, xoauth2_smtp_server)
    sender.send(run_id, "gemeente-0001", 1, no_retry)
    oauth_endpoint.expire_all()

    sender.send(run_id, "gemeente-0002", 1, no_retry)

    recipient = ledger.status(run_id, ["gemeente-0002"]).recipients[0]
    assert recipient.state == states.SENT
    assert recipient.attempts == 1
    assert [entry["outcome"] for entry in recipient.history] == ["queued", "claimed", "accepted"]
    assert xoauth2_smtp_server.expired_sessions == 1
    assert xoauth2_smtp_server.deliveries_by_recipient() == {"Gemeente 0001": 1, "Gemeente 0002": 1}
