"""Delivery truth past the relay, end to end: a run sent by real workers to a real SMTP server,
the reports that come back put in a real IMAP mailbox, read by `distributie bounces` and by the
workers' poller, and `distributie archive` proving every message against what the server got."""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path

from distributie import states
from distributie.compose.mailing import BUNDLED_MAILING, load_mailing
from distributie.ledger import Ledger, RecipientStatus
from tests.support.cli import distributie
from tests.support.imap import TestIMAPServer
from tests.support.reports import delayed_dsn, dsn, m365_ndr, out_of_office, text_bounce
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import (
    WorkerPool,
    start_run,
    wait_until_settled,
    write_recipients,
)

PROCESSED = "distributie/verwerkt"
UNKNOWN = "distributie/onbekend"
A_PERSON = (
    b"From: Jan <jan@baarn.example>\r\nTo: secretariaat@veiligheidscollege-mn.example\r\n"
    b"Subject: Vraag over de strategie\r\nMessage-ID: <vraag-1@baarn.example>\r\n\r\nHallo,\r\n"
)


def _by_key(ledger: Ledger, run_id: str) -> dict[str, RecipientStatus]:
    return {r.key: r for r in ledger.status(run_id).recipients}


def test_a_run_of_39_with_two_bounces_an_out_of_office_and_a_delay_ends_37_sent_2_bounced(
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
    imap_server: TestIMAPServer,
    tmp_path: Path,
) -> None:
    env = {**worker_pool.env, **smtp_server.environ(timeout=2), **imap_server.environ()}
    worker_pool.start(**smtp_server.environ(timeout=2))
    bundled_list = load_mailing(BUNDLED_MAILING).default_recipients
    assert bundled_list is not None
    handle = start_run(env, bundled_list)
    assert wait_until_settled(handle.ledger, handle.run_id)[states.SENT] == 39
    sent = {m.recipient: m.data for m in smtp_server.messages}
    reports = [
        dsn(sent["Baarn"]),  # Postfix: user unknown
        m365_ndr(sent["Soest"]),  # Microsoft 365, in Dutch: the attachment refused
        out_of_office(sent["Utrecht"]),
        delayed_dsn(sent["Zeist"]),
        A_PERSON,  # not a report: for a person to read
    ]
    imap_server.append_all("INBOX", reports)

    read = distributie("bounces", "--once", env=env, cwd=tmp_path)
    archived = distributie("archive", handle.run_id, "--out", "archief.zip", env=env, cwd=tmp_path)

    assert read.returncode == 0, read.stderr
    assert "4 matched and moved to distributie/verwerkt (auto_reply 1, dsn 2, ndr 1)" in read.stdout
    assert "1 set aside in distributie/onbekend (not_a_report 1)" in read.stdout
    counts = handle.ledger.counts(handle.run_id)
    assert (counts[states.SENT], counts[states.BOUNCED]) == (37, 2)
    recipients = _by_key(handle.ledger, handle.run_id)
    assert recipients["baarn"].state == recipients["soest"].state == states.BOUNCED
    assert "5.1.1" in recipients["baarn"].last_reply
    assert "User unknown" in recipients["baarn"].last_reply
    assert "bijlage niet toegestaan" in recipients["soest"].last_reply
    assert recipients["utrecht"].state == recipients["zeist"].state == states.SENT
    assert recipients["utrecht"].auto_reply.startswith("Ik ben afwezig tot en met maandag")
    assert recipients["utrecht"].history[-1]["outcome"] == "auto_reply"
    assert (
        recipients["zeist"].history[-1]["outcome"],
        recipients["zeist"].history[-1]["status"],
    ) == (
        "delayed",
        "4.4.1",
    )
    # The mailbox keeps every report, sorted into its folders.
    assert [m.raw for m in imap_server.messages(PROCESSED)] == reports[:4]
    assert [m.raw for m in imap_server.messages(UNKNOWN)] == [A_PERSON]
    assert imap_server.messages("INBOX") == []
    # The archive reproduces every message with the sha256 the server received.
    assert archived.returncode == 0, archived.stderr
    with zipfile.ZipFile(tmp_path / "archief.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
        files = {m["message_id"]: archive.read(m["file"]) for m in manifest["messages"]}
    received = {m.message_id: m.data for m in smtp_server.messages}
    assert files == received
    assert {m["message_id"]: m["sha256"] for m in manifest["messages"]} == {
        mid: hashlib.sha256(data).hexdigest() for mid, data in received.items()
    }
    bounced = [m for m in manifest["messages"] if m["events"]]
    assert sorted((m["gemeente"], m["events"][0]["outcome"]) for m in bounced) == [
        ("Baarn", "bounce"),
        ("Soest", "bounce"),
        ("Utrecht", "auto_reply"),
        ("Zeist", "delayed"),
    ]


def test_the_workers_poll_the_mailbox_one_at_a_time_and_record_each_report_once(
    worker_pool: WorkerPool,
    smtp_server: RecordingSMTPServer,
    imap_server: TestIMAPServer,
    tmp_path: Path,
) -> None:
    polling = {**imap_server.environ(), "DISTRIBUTIE_BOUNCE_POLL_SECONDS": "0.5"}
    env = {**worker_pool.env, **smtp_server.environ(timeout=2), **polling}
    for _ in range(2):
        worker_pool.start(**smtp_server.environ(timeout=2), **polling)
    handle = start_run(env, write_recipients(tmp_path / "list.csv", 3))
    wait_until_settled(handle.ledger, handle.run_id)

    imap_server.append_all(
        "INBOX",
        [text_bounce("burgemeester@g0002.example"), out_of_office(smtp_server.messages[0].data)],
    )
    deadline = time.monotonic() + 30
    while len(imap_server.messages(PROCESSED)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # a few more periods: a second poller would record them again now

    recipients = _by_key(handle.ledger, handle.run_id)
    assert recipients["gemeente-0002"].state == states.BOUNCED, worker_pool.logs()
    bounce_events = [h for h in recipients["gemeente-0002"].history if h["outcome"] == "bounce"]
    assert [e["method"] for e in bounce_events] == ["final_recipient"]
    first = smtp_server.messages[0].recipient
    away = [r for r in recipients.values() if r.gemeente == first]
    assert [h["method"] for h in away[0].history if h["outcome"] == "auto_reply"] == ["in_reply_to"]
    assert imap_server.messages("INBOX") == []
