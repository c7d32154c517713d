"""`bounces`, `archive`, and what bounces change in `status`, `retry` and `resend`, as a user
runs them: real `distributie` processes against a real Redis and a real IMAP server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from distributie import states
from distributie.compose.checking import check_mailing
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.delivery.sending import RecipientSender
from distributie.delivery.transport.outbox import OutboxTransport
from distributie.ledger import Claim, Ledger
from distributie.ledger.keys import messages_key
from distributie.ledger.records import ReportEvent
from distributie.operations.rebuild import PARALLEL_FROM
from distributie.operations.runs import create_run
from distributie.settings import Settings
from tests.support.cli import distributie
from tests.support.imap import TestIMAPServer
from tests.support.ledger import create_test_run
from tests.support.reports import out_of_office
from tests.support.workers import write_recipients

RUN = "20191004-142501-7f3a"


def _sent(ledger: Ledger, key: str) -> None:
    claim = ledger.claim(RUN, key, 1, "worker-a", 30)
    assert isinstance(claim, Claim)
    ledger.finish(
        RUN, key, claim.claim, "worker-a", outcome="accepted", state=states.SENT, reply="250 OK",
        code=250, message_id=f"<{RUN}.{key}.0@x.example>",
    )  # fmt: skip


def _report(ledger: Ledger, key: str, outcome: str, reply: str) -> None:
    event = ReportEvent(f"<{key}-{outcome}@mx>", RUN, key, outcome, "message_id", "dsn", reply)
    ledger.record_report(event, "poller:1")


@pytest.fixture
def env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {"DISTRIBUTIE_REDIS_URL": redis_url, "DISTRIBUTIE_OUTBOX_DIR": str(tmp_path / "out")}


@pytest.fixture
def bounced_run(ledger: Ledger) -> str:
    """RUN: g1 bounced, g2 sent with an auto-reply, g3 sent."""
    create_test_run(ledger, 3, run_id=RUN)
    for key in ("g1", "g2", "g3"):
        _sent(ledger, key)
    _report(ledger, "g1", states.OUTCOME_BOUNCE, "550 5.1.1 User unknown")
    _report(ledger, "g2", states.OUTCOME_AUTO_REPLY, "Ik ben afwezig tot maandag")
    return RUN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- bounces ----------------------------------------------------------------------------------


def test_bounces_without_a_mailbox_is_a_settings_error(env: dict[str, str], tmp_path: Path) -> None:
    result = distributie("bounces", "--once", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert "DISTRIBUTIE_BOUNCE_IMAP_HOST is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_bounces_with_a_mailbox_it_cannot_reach_exits_2_naming_it(
    env: dict[str, str], tmp_path: Path, imap_server: TestIMAPServer
) -> None:
    port = free_port()
    mailbox = {**imap_server.environ(), "DISTRIBUTIE_BOUNCE_IMAP_PORT": str(port)}

    result = distributie("bounces", "--once", env={**env, **mailbox}, cwd=tmp_path)

    assert result.returncode == 2
    assert f"127.0.0.1:{port}: connection refused" in result.stderr


def test_bounces_with_a_login_refused_exits_2_without_the_password(
    env: dict[str, str], tmp_path: Path, imap_server: TestIMAPServer
) -> None:
    mailbox = {**imap_server.environ(), "DISTRIBUTIE_BOUNCE_IMAP_PASSWORD": "Fout-Wachtwoord-9"}

    result = distributie("bounces", "--once", env={**env, **mailbox}, cwd=tmp_path)

    assert result.returncode == 2
    assert "login refused" in result.stderr
    assert "Fout-Wachtwoord-9" not in result.stdout + result.stderr


def test_bounces_of_an_empty_mailbox_exits_0_and_says_so(
    env: dict[str, str], tmp_path: Path, imap_server: TestIMAPServer
) -> None:
    result = distributie("bounces", "--once", env={**env, **imap_server.environ()}, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"No messages in INBOX at 127.0.0.1:{imap_server.port}." in result.stdout


# --- status, retry, resend ----------------------------------------------------------------------


def test_status_counts_bounced_and_shows_the_auto_reply(
    env: dict[str, str], tmp_path: Path, bounced_run: str
) -> None:
    table = distributie("status", env={**env, "COLUMNS": "200"}, cwd=tmp_path)
    document = json.loads(distributie("status", "--json", env=env, cwd=tmp_path).stdout)
    runs = json.loads(distributie("runs", "--json", env=env, cwd=tmp_path).stdout)

    assert "sent (auto-reply)" in table.stdout
    assert "Ik ben afwezig tot maandag" in table.stdout
    assert "2 sent, 1 bounced" in table.stdout
    assert document["counts"]["bounced"] == 1
    assert runs["runs"][0]["counts"]["bounced"] == 1
    by_name = {r["gemeente"]: r for r in document["recipients"]}
    assert by_name["Gemeente 1"]["state"] == "bounced"
    assert by_name["Gemeente 2"]["auto_reply"]["reply"] == "Ik ben afwezig tot maandag"
    assert by_name["Gemeente 3"]["auto_reply"] is None


def test_status_says_once_that_bounces_are_not_read_without_a_mailbox(
    env: dict[str, str], tmp_path: Path, bounced_run: str, imap_server: TestIMAPServer
) -> None:
    without = distributie("status", env=env, cwd=tmp_path)
    with_mailbox = distributie("status", env={**env, **imap_server.environ()}, cwd=tmp_path)

    assert without.stdout.count("Bounces and automatic replies are not read") == 1
    assert "DISTRIBUTIE_BOUNCE_IMAP_HOST" in without.stdout
    assert "not read" not in with_mailbox.stdout


def test_status_state_filter_accepts_bounced(
    env: dict[str, str], tmp_path: Path, bounced_run: str
) -> None:
    result = distributie("status", "--state", "bounced", "--csv", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert [line.split(",")[0] for line in result.stdout.splitlines()] == ["gemeente", "Gemeente 1"]


def test_retry_leaves_bounced_recipients_alone_unless_asked(
    env: dict[str, str], tmp_path: Path, bounced_run: str, ledger: Ledger
) -> None:
    plain = distributie("retry", RUN, env=env, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert ledger.status(RUN, ["g1"]).recipients[0].state == states.BOUNCED

    asked = distributie("retry", RUN, "--bounced", env=env, cwd=tmp_path)

    assert asked.returncode == 0, asked.stderr
    assert "1 recipient(s) queued again" in asked.stderr
    assert ledger.status(RUN, ["g1"]).recipients[0].state == states.QUEUED


def test_resend_accepts_a_bounced_recipient_with_a_corrected_address(
    env: dict[str, str], tmp_path: Path, bounced_run: str, ledger: Ledger
) -> None:
    result = distributie(
        "resend", RUN, "Gemeente 1", "--to", "nieuw@g1.example", "--yes", env=env, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    recipient = ledger.status(RUN, ["g1"]).recipients[0]
    assert (recipient.state, recipient.email) == (states.QUEUED, "nieuw@g1.example")


# --- archive ------------------------------------------------------------------------------------


def _sent_to_outbox(ledger: Ledger, tmp_path: Path, count: int) -> str:
    """A run of `count` recipients of the bundled mailing, sent to the outbox folder."""
    checked = check_mailing(BUNDLED_MAILING, write_recipients(tmp_path / "l.csv", count), 10**7)
    run_id = create_run(ledger, checked, checked.recipients.recipients, "test", "outbox")
    settings = Settings(_env_file=None, outbox_dir=tmp_path / "out")  # type: ignore[call-arg]
    sender = RecipientSender(settings, ledger, OutboxTransport(tmp_path / "out"))
    for key in ledger.recipient_keys(run_id):
        sender.send(run_id, key, 1, lambda *args: None)
    return run_id


@pytest.fixture
def outbox_run(ledger: Ledger, tmp_path: Path) -> str:
    return _sent_to_outbox(ledger, tmp_path, 2)


def test_archive_of_a_run_exits_0_with_every_message_identical(
    env: dict[str, str], tmp_path: Path, outbox_run: str
) -> None:
    result = distributie("archive", outbox_run, "--out", "a.zip", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert (
        "2 message(s)" in result.stdout and "2 identical to what was sent, 0 not" in result.stdout
    )


def test_archive_with_a_mismatch_exits_1_naming_the_message_and_writes_the_zip(
    env: dict[str, str], tmp_path: Path, outbox_run: str, ledger: Ledger
) -> None:
    [record] = ledger.sent_messages(outbox_run, "gemeente-0002")
    other_date = replace(record, date="Mon, 01 Jan 2018 00:00:00 +0000")  # not what was sent
    ledger.client.hset(messages_key(outbox_run, "gemeente-0002"), "1", other_date.as_json())

    result = distributie("archive", outbox_run, "--out", "a.zip", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert "eml/gemeente-0002.eml (Gemeente 0002" in result.stderr
    assert (tmp_path / "a.zip").is_file()


def test_archive_of_a_long_run_rebuilds_on_every_core_what_the_outbox_holds(
    env: dict[str, str], tmp_path: Path, ledger: Ledger
) -> None:
    count = 2 * PARALLEL_FROM  # enough for two rebuilding processes
    run_id = _sent_to_outbox(ledger, tmp_path, count)

    result = distributie("archive", run_id, "--out", "a.zip", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"{count} identical to what was sent, 0 not" in result.stdout
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        for path in sorted((tmp_path / "out" / run_id).glob("*.eml")):
            assert archive.read(f"eml/{path.name}") == path.read_bytes()


def test_archive_of_a_run_that_does_not_exist_exits_2(env: dict[str, str], tmp_path: Path) -> None:
    result = distributie("archive", "no-such-run", "--out", "a.zip", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert "there is no run 'no-such-run'" in result.stderr
    assert not (tmp_path / "a.zip").exists()


def test_bounces_without_once_reads_again_each_period_until_ctrl_c(
    env: dict[str, str], tmp_path: Path, bounced_run: str, imap_server: TestIMAPServer
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    polling = {**env, **imap_server.environ(), "DISTRIBUTIE_BOUNCE_POLL_SECONDS": "0.3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "distributie", "bounces"],
        env={**clean, **polling},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "No messages" in process.stdout.readline()  # the first pass, at once
        sent = f"To: <b@g3.example>\r\nMessage-ID: <{RUN}.g3.0@x.example>\r\n\r\n".encode()
        imap_server.append("INBOX", out_of_office(sent))
        deadline = time.monotonic() + 20
        while not imap_server.messages("distributie/verwerkt") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=20)

    assert process.returncode == 130
    assert "auto_reply Gemeente 3" in out
    assert "No messages" not in out  # after the first, a pass that finds nothing is quiet
