"""Transport security end to end: certificates are verified, STARTTLS never degrades to plaintext,
plaintext goes only to loopback unless explicitly allowed, and AUTH is never sent in clear.

Where it matters the path is the real one: `distributie send`/`retry` as processes, real workers,
the ledger in Redis, and an SMTP server that records every command it receives. The unit-level
cases (a wrong CA file, STARTTLS not offered without AUTH) are in test_transport.py.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from distributie import states
from distributie.delivery.transport import CertificateError, Envelope, SMTPTransport
from distributie.errors import ConfigError
from distributie.ledger import Ledger, RecipientStatus
from distributie.settings import Settings, load_settings
from tests.support import smtp as smtp_support
from tests.support.cli import distributie as run_distributie
from tests.support.smtp import RecordingSMTPServer
from tests.support.workers import WorkerPool, wait_until_settled, write_recipients

USER = "distributie"
PASSWORD = "tls-only-Pa55word"
REMOTE_HOSTS = [
    "smtp.example.org",
    "192.0.2.25",
    "2001:db8::25",
    "localhost.example.org",  # looks local, is not
    "127.0.0.1.nip.io",
]
LOOPBACK_HOSTS = ["127.0.0.1", "127.10.20.30", "localhost", "LOCALHOST", "::1", "[::1]"]


def distributie(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_distributie(*args, env=env, cwd=cwd, timeout=90)


def smtp_env(server: RecordingSMTPServer, **changes: str | None) -> dict[str, str]:
    """The server's DISTRIBUTIE_SMTP_* variables with some changed (None: left out)."""
    env = server.environ(timeout=2)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def sessions(server: RecordingSMTPServer) -> list[list[str]]:
    """The commands the server received, one list per connection."""
    return [server.commands(n) for n in range(1, server.connections + 1)]


def assert_auth_only_after_starttls(server: RecordingSMTPServer) -> None:
    for commands in sessions(server):
        if "AUTH" in commands:
            assert "STARTTLS" in commands[: commands.index("AUTH")], commands


def only_recipient(ledger: Ledger, run_id: str) -> RecipientStatus:
    [recipient] = ledger.status(run_id).recipients
    return recipient


def send_one(pool: WorkerPool, tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    """`distributie send --yes --json` to one recipient: (exit code, run id)."""
    recipients = write_recipients(tmp_path / "list.csv", 1)
    result = distributie(
        "send",
        "--yes",
        "--json",
        "--recipients",
        str(recipients),
        env={**pool.env, **env},
        cwd=tmp_path,
    )
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)["run"]


def retry(
    pool: WorkerPool, tmp_path: Path, env: dict[str, str], run_id: str, ledger: Ledger
) -> None:
    result = distributie("retry", run_id, env={**pool.env, **env}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    wait_until_settled(ledger, run_id, timeout=30)


# -- certificates ---------------------------------------------------------------------------


def test_an_untrusted_certificate_fails_the_recipient_until_the_ca_file_trusts_it(
    worker_pool: WorkerPool, tmp_path: Path
) -> None:
    relay_ca = trustme.CA()  # a private relay's CA: not among the system's
    relay_ca_file = tmp_path / "relay-ca.pem"
    relay_ca.cert_pem.write_to_path(str(relay_ca_file))
    ledger = Ledger.from_url(worker_pool.env["DISTRIBUTIE_REDIS_URL"])
    with RecordingSMTPServer(
        security="starttls", ca=relay_ca, ca_file=relay_ca_file, username=USER, password=PASSWORD
    ) as server:
        system_cas = smtp_env(server, DISTRIBUTIE_SMTP_CA_FILE=None)
        worker_pool.start(**system_cas)
        code, run_id = send_one(worker_pool, tmp_path, system_cas)

        refused = only_recipient(ledger, run_id)
        assert code == 1
        assert refused.state == states.FAILED  # at once: no retry would ever succeed
        assert refused.attempts == 1
        assert refused.last_reply.startswith(
            f"TLS certificate verification failed for 127.0.0.1:{server.port}: "
        )
        assert "unable to get local issuer certificate" in refused.last_reply
        assert [h["outcome"] for h in refused.history].count("claimed") == 1
        assert server.messages == []
        # The handshake failed right after STARTTLS: no AUTH, no MAIL, on any connection.
        assert sessions(server) and all(c == ["EHLO", "STARTTLS"] for c in sessions(server))

        # The operator points DISTRIBUTIE_SMTP_CA_FILE at the relay's CA and retries.
        worker_pool.stop_all()
        trusted = smtp_env(server)
        assert trusted["DISTRIBUTIE_SMTP_CA_FILE"] == str(relay_ca_file)
        worker_pool.start(**trusted)
        retry(worker_pool, tmp_path, trusted, run_id, ledger)

        delivered = only_recipient(ledger, run_id)
        assert delivered.state == states.SENT
        assert delivered.last_reply.startswith("250 ")
        assert len(server.messages) == 1
        assert server.messages[0].rcpt_tos == ("burgemeester@g0001.example",)
        assert_auth_only_after_starttls(server)
        assert any("AUTH" in commands for commands in sessions(server))


def _send_directly(server: RecordingSMTPServer) -> None:
    envelope = Envelope("secretariaat@example.org", ("burgemeester@g0001.example",), "r", "k")
    with SMTPTransport(server.settings()) as transport:
        transport.send(envelope, b"Subject: test\r\n\r\nbody\r\n", lambda: None)


def test_implicit_tls_with_an_untrusted_certificate_never_reaches_smtp(
    smtp_ca_file: Path,
) -> None:
    with RecordingSMTPServer(
        security="tls", ca=trustme.CA(), ca_file=smtp_ca_file, username=USER, password=PASSWORD
    ) as server:
        with pytest.raises(CertificateError) as caught:
            _send_directly(server)

        assert "unable to get local issuer certificate" in caught.value.reply.text
        assert server.commands() == []  # not even EHLO went out
        assert server.messages == []


def test_a_trusted_certificate_for_another_host_name_is_refused(
    smtp_ca: trustme.CA, smtp_ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def certificate_for_another_host(ca: trustme.CA) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("mail.example.org").configure_cert(context)
        return context

    # Signed by the CA the client trusts, but for a name other than the one it dials.
    monkeypatch.setattr(smtp_support, "_server_tls_context", certificate_for_another_host)
    with RecordingSMTPServer(
        security="starttls", ca=smtp_ca, ca_file=smtp_ca_file, username=USER, password=PASSWORD
    ) as server:
        with pytest.raises(CertificateError) as caught:
            _send_directly(server)

        assert "mismatch" in caught.value.reply.text
        assert sessions(server) == [["EHLO", "STARTTLS"]]
        assert server.messages == []


# -- STARTTLS is never optional -------------------------------------------------------------


def test_starttls_not_offered_fails_the_recipient_and_nothing_goes_out_in_clear(
    worker_pool: WorkerPool, tmp_path: Path, smtp_ca_file: Path
) -> None:
    ledger = Ledger.from_url(worker_pool.env["DISTRIBUTIE_REDIS_URL"])
    # A relay without STARTTLS that would gladly take AUTH and mail in clear.
    with RecordingSMTPServer(security="none", username=USER, password=PASSWORD) as server:
        starttls = smtp_env(
            server,
            DISTRIBUTIE_SMTP_SECURITY="starttls",
            DISTRIBUTIE_SMTP_CA_FILE=str(smtp_ca_file),
        )
        worker_pool.start(**starttls)
        code, run_id = send_one(worker_pool, tmp_path, starttls)

        refused = only_recipient(ledger, run_id)
        assert code == 1
        assert refused.state == states.FAILED
        assert refused.attempts == 1
        assert "does not offer STARTTLS; refusing to send unencrypted" in refused.last_reply
        assert "DISTRIBUTIE_SMTP_SECURITY=starttls" in refused.last_reply
        assert server.messages == []
        # Only the greeting exchange: no AUTH, no MAIL, nothing of the message.
        assert sessions(server) and all(set(c) <= {"EHLO", "QUIT"} for c in sessions(server))

        # Plaintext only when asked for, and here allowed because the relay is loopback.
        worker_pool.stop_all()
        plaintext = smtp_env(server)
        assert plaintext["DISTRIBUTIE_SMTP_SECURITY"] == "none"
        assert "DISTRIBUTIE_SMTP_ALLOW_PLAINTEXT" not in plaintext
        worker_pool.start(**plaintext)
        retry(worker_pool, tmp_path, plaintext, run_id, ledger)

        assert only_recipient(ledger, run_id).state == states.SENT
        assert len(server.messages) == 1


# -- plaintext to a remote host ---------------------------------------------------------------


def test_plaintext_to_a_remote_relay_is_refused_before_anything_is_queued(
    redis_url: str, tmp_path: Path
) -> None:
    recipients = str(write_recipients(tmp_path / "list.csv", 2))
    env = {
        "DISTRIBUTIE_REDIS_URL": redis_url,
        "DISTRIBUTIE_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DISTRIBUTIE_SMTP_HOST": "smtp.example.org",
        "DISTRIBUTIE_SMTP_SECURITY": "none",
        "DISTRIBUTIE_SMTP_USERNAME": USER,
        "DISTRIBUTIE_SMTP_PASSWORD": PASSWORD,
    }
    allowed = {**env, "DISTRIBUTIE_SMTP_ALLOW_PLAINTEXT": "true"}
    commands = {
        "check": (env, ("check", "--recipients", recipients)),
        "send": (env, ("send", "--yes", "--recipients", recipients)),
        "worker": (env, ("worker",)),
        "allowed": (allowed, ("check", "--recipients", recipients)),
    }
    with ThreadPoolExecutor(len(commands)) as pool:
        futures = {
            name: pool.submit(distributie, *args, env=e, cwd=tmp_path)
            for name, (e, args) in commands.items()
        }
        results = {name: future.result() for name, future in futures.items()}

    for name in ("check", "send", "worker"):
        result = results[name]
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert "DISTRIBUTIE_SMTP_SECURITY=none" in result.stderr
        assert "smtp.example.org" in result.stderr
        assert "DISTRIBUTIE_SMTP_ALLOW_PLAINTEXT=true" in result.stderr
        assert "Traceback" not in result.stderr
        assert PASSWORD not in result.stdout + result.stderr
        assert result.stdout == ""
    assert results["allowed"].returncode == 0, results["allowed"].stderr
    with Ledger.from_url(redis_url).client as client:
        assert client.dbsize() == 0  # no run, no task message, nothing
    assert not (tmp_path / "outbox").exists()


@pytest.fixture
def no_settings_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    for name in list(os.environ):
        if name.startswith("DISTRIBUTIE_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_settings_from_outside")
@pytest.mark.parametrize("host", REMOTE_HOSTS)
def test_settings_refuse_plaintext_to_a_host_that_is_not_loopback(host: str) -> None:
    with pytest.raises(ValidationError) as raw:
        Settings(smtp_host=host, smtp_security="none", smtp_password=PASSWORD)
    with pytest.raises(ConfigError) as config:
        load_settings(smtp_host=host, smtp_security="none", smtp_password=PASSWORD)

    for text in (str(raw.value), str(config.value)):
        assert "DISTRIBUTIE_SMTP_ALLOW_PLAINTEXT=true" in text
        assert host in text
        assert PASSWORD not in text
    assert Settings(smtp_host=host, smtp_security="none", smtp_allow_plaintext=True)
    assert Settings(smtp_host=host, smtp_security="starttls")
    assert Settings(smtp_host=host, smtp_security="tls")


@pytest.mark.usefixtures("no_settings_from_outside")
@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_settings_allow_plaintext_to_loopback(host: str) -> None:
    settings = Settings(smtp_host=host, smtp_security="none")

    assert settings.smtp_security == "none"
    assert settings.effective_smtp_port == 25
