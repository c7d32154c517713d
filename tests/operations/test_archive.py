"""The archive of a run, against a real SMTP server and Redis: every message rebuilt byte for
byte as the server received it, the status, the manifest and the mailing in one zip, and a
message that does not match named and written all the same."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from distributie import states
from distributie.compose.checking import check_mailing
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.delivery.sending import RecipientSender
from distributie.delivery.transport import SMTPTransport
from distributie.errors import UsageError
from distributie.ledger import Ledger, Requeued, SentMessage
from distributie.ledger.keys import messages_key
from distributie.ledger.records import ReportEvent
from distributie.operations import reports
from distributie.operations.archive import write_archive
from distributie.operations.runs import RunPlan, create_run
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import write_recipients


def _send_all(ledger: Ledger, server: RecordingSMTPServer, run_id: str, items: list[Any]) -> None:
    settings = server.settings(retry_delay=0.1)
    sender = RecipientSender(settings, ledger, SMTPTransport(settings))
    try:
        while items:
            key, seq = items.pop(0)
            later = sender.send(run_id, key, seq, lambda *args: None)
            if later is not None:
                time.sleep(later.countdown)
                items.append((key, later.seq))
    finally:
        sender.transport.close()


@pytest.fixture
def sent_run(ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path) -> str:
    """Three recipients of the bundled mailing (each with its own .docx), sent."""
    checked = check_mailing(BUNDLED_MAILING, write_recipients(tmp_path / "l.csv", 3), 10**7)
    run_id = create_run(ledger, checked, checked.recipients.recipients, "test", "smtp")
    _send_all(ledger, smtp_server, run_id, [(k, 1) for k in ledger.recipient_keys(run_id)])
    return run_id


def _zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_every_message_is_rebuilt_exactly_as_the_server_received_it(
    ledger: Ledger, smtp_server: RecordingSMTPServer, sent_run: str, tmp_path: Path
) -> None:
    result = write_archive(ledger, sent_run, tmp_path / "archief.zip")

    files = _zip(tmp_path / "archief.zip")
    received = {m.message_id: m.data for m in smtp_server.messages}
    assert result.mismatches == []
    assert {m.message_id: files[m.file] for m in result.messages} == received
    manifest = json.loads(files["manifest.json"])
    assert {m["file"]: m["sha256"] for m in manifest["messages"]} == {
        m.file: hashlib.sha256(received[m.message_id]).hexdigest() for m in result.messages
    }


def test_the_zip_holds_the_status_the_manifest_and_the_mailing(
    ledger: Ledger, sent_run: str, tmp_path: Path
) -> None:
    write_archive(ledger, sent_run, tmp_path / "archief.zip")

    files = _zip(tmp_path / "archief.zip")
    status = ledger.status(sent_run)
    csv = io.StringIO(newline="")
    reports.write_status_csv(csv, status.recipients)
    assert files["status.csv"] == csv.getvalue().encode("utf-8")
    assert sorted(n for n in files if n.startswith("eml/")) == [
        "eml/gemeente-0001.eml",
        "eml/gemeente-0002.eml",
        "eml/gemeente-0003.eml",
    ]
    bundle = ledger.load_bundle(status.templates_sha256)
    assert {n.removeprefix("mailing/"): files[n] for n in files if n.startswith("mailing/")} == (
        bundle.files
    )
    manifest = json.loads(files["manifest.json"])
    assert set(manifest) == {
        "run", "mailing", "recipients_sha256", "templates_sha256", "messages", "mismatches",
    }  # fmt: skip
    assert (manifest["run"], manifest["templates_sha256"]) == (sent_run, status.templates_sha256)
    entry = manifest["messages"][0]
    assert set(entry) == {
        "gemeente", "email", "message_id", "file", "sha256", "bytes", "accepted_at", "reply",
        "events",
    }  # fmt: skip
    assert entry["reply"].startswith("250") and entry["accepted_at"] > 0
    assert manifest["mismatches"] == []


def test_a_resend_is_archived_beside_the_first_send_with_its_own_address(
    ledger: Ledger, smtp_server: RecordingSMTPServer, sent_run: str, tmp_path: Path
) -> None:
    key = "gemeente-0002"
    requeued = ledger.requeue(sent_run, key, "operator", "nieuw@g0002.example", "resend")
    assert isinstance(requeued, Requeued)
    _send_all(ledger, smtp_server, sent_run, [(key, requeued.seq)])

    result = write_archive(ledger, sent_run, tmp_path / "archief.zip")

    files = _zip(tmp_path / "archief.zip")
    resent = smtp_server.messages[-1]
    assert files["eml/gemeente-0002-1.eml"] == resent.data
    [entry] = [m for m in result.messages if m.file == "eml/gemeente-0002-1.eml"]
    assert (entry.email, entry.message_id) == ("nieuw@g0002.example", resent.message_id)
    assert result.mismatches == []


def test_a_bounce_is_in_the_events_of_the_message_it_names(
    ledger: Ledger, sent_run: str, tmp_path: Path
) -> None:
    event = ReportEvent(
        "<r@mx>", sent_run, "gemeente-0003", states.OUTCOME_BOUNCE, "message_id", "dsn",
        "550 5.1.1 User unknown", "5.1.1", 550, resend=0, attempt=1,
    )  # fmt: skip
    ledger.record_report(event, "poller:1")

    result = write_archive(ledger, sent_run, tmp_path / "archief.zip")

    events = {m.file: [e["outcome"] for e in m.events] for m in result.messages}
    assert events["eml/gemeente-0003.eml"] == ["bounce"]
    assert events["eml/gemeente-0001.eml"] == []


def test_a_message_that_does_not_match_is_named_and_the_zip_is_written_all_the_same(
    ledger: Ledger, sent_run: str, tmp_path: Path
) -> None:
    key = "gemeente-0002"
    [record] = ledger.sent_messages(sent_run, key)
    forged = SentMessage.from_json(record.as_json().replace(record.sha256, "f" * 64))
    ledger.client.hset(messages_key(sent_run, key), "1", forged.as_json())

    result = write_archive(ledger, sent_run, tmp_path / "archief.zip")

    assert [m.file for m in result.mismatches] == ["eml/gemeente-0002.eml"]
    manifest = json.loads(_zip(tmp_path / "archief.zip")["manifest.json"])
    [mismatch] = manifest["mismatches"]
    assert (mismatch["file"], mismatch["recorded_sha256"]) == ("eml/gemeente-0002.eml", "f" * 64)
    assert mismatch["rebuilt_sha256"] == record.sha256
    assert len(manifest["messages"]) == 3


def test_an_existing_file_is_never_overwritten(
    ledger: Ledger, sent_run: str, tmp_path: Path
) -> None:
    target = tmp_path / "archief.zip"
    target.write_bytes(b"earlier archive")

    with pytest.raises(UsageError, match="already exists"):
        write_archive(ledger, sent_run, target)

    assert target.read_bytes() == b"earlier archive"


def test_a_message_sent_before_records_were_kept_is_named_as_missing_from_the_archive(
    ledger: Ledger, sent_run: str, tmp_path: Path
) -> None:
    ledger.client.delete(messages_key(sent_run, "gemeente-0001"))  # as a run of an older version

    result = write_archive(ledger, sent_run, tmp_path / "archief.zip")

    assert result.unrecorded == ["Gemeente 0001"]
    assert [m.file for m in result.messages] == ["eml/gemeente-0002.eml", "eml/gemeente-0003.eml"]


def test_a_proefzending_is_rebuilt_with_its_test_marks(
    ledger: Ledger, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    checked = check_mailing(BUNDLED_MAILING, write_recipients(tmp_path / "l.csv", 2), 10**7)
    plan = RunPlan(test_to="proef@secretariaat.example")
    run_id = create_run(ledger, checked, checked.recipients.recipients, "test", "smtp", plan)
    _send_all(ledger, smtp_server, run_id, [(k, 1) for k in ledger.recipient_keys(run_id)])

    result = write_archive(ledger, run_id, tmp_path / "proef.zip")

    files = _zip(tmp_path / "proef.zip")
    assert result.mismatches == []
    assert all(b"X-Distributie-Test: yes" in files[m.file] for m in result.messages)
