"""The bounce mailbox against a real IMAP server (pymap): connecting in each security mode, clear
errors without secrets, folders with the server's delimiter, fetching and moving by UID."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trustme

from distributie.bounces.mailbox import BounceMailbox, MailboxError
from distributie.errors import ConfigError
from tests.support.imap import TestIMAPServer

REPORT = (
    b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <report-1@mx.example>\r\n\r\nThe mail system\r\n"
)


def report(number: int) -> bytes:
    return REPORT.replace(b"report-1", f"report-{number}".encode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- connecting -------------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["imap_server", "imap_starttls_server", "imap_tls_server"])
def test_each_security_mode_reads_the_exact_bytes_of_a_message(
    server: str, request: pytest.FixtureRequest
) -> None:
    imap: TestIMAPServer = request.getfixturevalue(server)
    uid = imap.append("INBOX", REPORT)

    with BounceMailbox(imap.settings()) as mailbox:
        fetched = list(mailbox.fetch_unprocessed())

    assert [(m.uid, m.raw, m.truncated) for m in fetched] == [(uid, REPORT, False)]


def test_a_wrong_password_is_a_clear_error_naming_the_server_and_not_the_password(
    imap_server: TestIMAPServer,
) -> None:
    settings = imap_server.settings(bounce_imap_password="Verkeerd-Wachtwoord-42")

    with pytest.raises(MailboxError) as info:
        BounceMailbox(settings).open()

    message = str(info.value)
    assert f"127.0.0.1:{imap_server.port}" in message
    assert "login refused" in message
    assert "Verkeerd-Wachtwoord-42" not in message
    assert "\n" not in message
    assert info.value.exit_code == 2


def test_a_password_the_server_echoes_back_is_redacted() -> None:
    with TestIMAPServer(echo_secret_on_failure=True) as imap:
        settings = imap.settings(bounce_imap_password="Verkeerd-Wachtwoord-42")

        with pytest.raises(MailboxError, match=r"\*\*\*") as info:
            BounceMailbox(settings).open()

    assert "Verkeerd-Wachtwoord-42" not in str(info.value)


def test_a_server_that_is_not_there_is_a_clear_error() -> None:
    port = free_port()
    settings = TestIMAPServer().settings(bounce_imap_port=port)

    with pytest.raises(MailboxError, match=rf"127\.0\.0\.1:{port}: connection refused"):
        BounceMailbox(settings, timeout=5).open()


def test_a_certificate_from_an_untrusted_ca_is_refused(imap_ca_file: Path) -> None:
    with TestIMAPServer(security="tls", ca=trustme.CA(), ca_file=imap_ca_file) as imap:
        settings = imap.settings()

        with pytest.raises(MailboxError, match="TLS certificate verification failed"):
            BounceMailbox(settings).open()


def test_starttls_against_a_server_that_does_not_offer_it_never_goes_on_in_plaintext(
    imap_server: TestIMAPServer,
) -> None:
    settings = imap_server.settings(bounce_imap_security="starttls")

    with pytest.raises(MailboxError, match="does not offer STARTTLS"):
        BounceMailbox(settings).open()

    assert imap_server.logins == []


def test_starttls_certificate_is_verified_too(imap_ca_file: Path) -> None:
    with TestIMAPServer(security="starttls", ca=trustme.CA(), ca_file=imap_ca_file) as imap:
        with pytest.raises(MailboxError, match="TLS certificate verification failed"):
            BounceMailbox(imap.settings()).open()

        assert imap.logins == []


def test_a_missing_folder_is_a_clear_error_naming_it(imap_server: TestIMAPServer) -> None:
    settings = imap_server.settings(bounce_imap_folder="Bounces")

    with (
        BounceMailbox(settings) as mailbox,
        pytest.raises(MailboxError, match="no folder 'Bounces'"),
    ):
        mailbox.unprocessed()


# --- XOAUTH2 ----------------------------------------------------------------------------------


def test_xoauth2_logs_in_with_the_token_the_provider_returns() -> None:
    with TestIMAPServer(xoauth2=True, access_token="token-1") as imap:
        settings = imap.settings(bounce_imap_auth="xoauth2", bounce_imap_password=None)

        with BounceMailbox(settings, access_token=lambda: "token-1") as mailbox:
            mailbox.unprocessed()

        assert imap.logins == [("xoauth2", imap.username)]


def test_xoauth2_asks_the_provider_for_a_token_at_each_login() -> None:
    tokens = iter(["token-1", "token-2"])
    with TestIMAPServer(xoauth2=True, access_token="token-1") as imap:
        settings = imap.settings(bounce_imap_auth="xoauth2", bounce_imap_password=None)
        mailbox = BounceMailbox(settings, access_token=lambda: next(tokens))
        with mailbox:
            pass
        imap.access_token = "token-2"  # the old one expired

        with mailbox:
            pass

        assert len(imap.logins) == 2


def test_an_expired_xoauth2_token_is_refused_without_showing_it() -> None:
    with TestIMAPServer(xoauth2=True, access_token="current-token") as imap:
        settings = imap.settings(bounce_imap_auth="xoauth2", bounce_imap_password=None)

        with pytest.raises(MailboxError, match="login refused") as info:
            BounceMailbox(settings, access_token=lambda: "expired-token-xyz").open()

        assert "expired-token-xyz" not in str(info.value)
        assert imap.logins == []


def test_an_xoauth2_token_the_server_echoes_back_is_redacted() -> None:
    with TestIMAPServer(xoauth2=True, access_token="current", echo_secret_on_failure=True) as imap:
        settings = imap.settings(bounce_imap_auth="xoauth2", bounce_imap_password=None)

        with pytest.raises(MailboxError, match=r"\*\*\*") as info:
            BounceMailbox(settings, access_token=lambda: "expired-token-xyz").open()

    assert "expired-token-xyz" not in str(info.value)


def test_xoauth2_without_a_token_provider_is_a_settings_error(
    imap_server: TestIMAPServer,
) -> None:
    settings = imap_server.settings(bounce_imap_auth="xoauth2", bounce_imap_password=None)

    with pytest.raises(ConfigError, match="DISTRIBUTIE_BOUNCE_IMAP_AUTH=xoauth2"):
        BounceMailbox(settings)


# --- folders ----------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", ["/", "."])
def test_folders_are_created_with_the_server_s_delimiter(delimiter: str) -> None:
    with TestIMAPServer(delimiter=delimiter) as imap:
        with BounceMailbox(imap.settings()) as mailbox:
            mailbox.ensure_folders()

        assert imap.folders() == [
            "INBOX",
            "distributie",
            f"distributie{delimiter}onbekend",
            f"distributie{delimiter}verwerkt",
        ]


def test_ensuring_the_folders_again_changes_nothing(imap_server: TestIMAPServer) -> None:
    imap_server.append("INBOX", REPORT)
    with BounceMailbox(imap_server.settings()) as mailbox:
        mailbox.ensure_folders()
        uid = mailbox.unprocessed()[0]
        mailbox.move(uid, "verwerkt")
    before = imap_server.folders()

    with BounceMailbox(imap_server.settings()) as mailbox:
        mailbox.ensure_folders()
        mailbox.ensure_folders()

    assert imap_server.folders() == before
    assert [m.raw for m in imap_server.messages("distributie/verwerkt")] == [REPORT]


# --- fetching and moving ----------------------------------------------------------------------


def test_fetch_by_uid_returns_only_those_and_leaves_them_unread(
    imap_server: TestIMAPServer,
) -> None:
    uids = imap_server.append_all("INBOX", [report(n) for n in range(3)])

    with BounceMailbox(imap_server.settings()) as mailbox:
        fetched = list(mailbox.fetch([uids[1]]))

    assert [m.raw for m in fetched] == [report(1)]
    assert all("\\Seen" not in m.flags for m in imap_server.messages("INBOX"))


def test_unprocessed_messages_come_oldest_first_in_batches(imap_server: TestIMAPServer) -> None:
    sent = [report(n) for n in range(45)]
    imap_server.append_all("INBOX", sent)

    with BounceMailbox(imap_server.settings()) as mailbox:
        fetched = [m.raw for m in mailbox.fetch_unprocessed()]

    assert fetched == sent


def test_messages_can_be_moved_while_they_are_being_fetched(imap_server: TestIMAPServer) -> None:
    sent = [report(n) for n in range(50)]
    imap_server.append_all("INBOX", sent)

    with BounceMailbox(imap_server.settings()) as mailbox:
        mailbox.ensure_folders()
        for message in mailbox.fetch_unprocessed():
            mailbox.move(message.uid, "verwerkt")

    assert imap_server.messages("INBOX") == []
    assert [m.raw for m in imap_server.messages("distributie/verwerkt")] == sent


@pytest.mark.parametrize("destination", ["verwerkt", "onbekend"])
def test_a_moved_message_is_kept_byte_for_byte_in_its_folder(
    imap_server: TestIMAPServer, destination: str
) -> None:
    uid = imap_server.append("INBOX", REPORT)

    with BounceMailbox(imap_server.settings()) as mailbox:
        mailbox.ensure_folders()
        mailbox.move(uid, destination)  # type: ignore[arg-type]

    assert imap_server.messages("INBOX") == []
    assert [m.raw for m in imap_server.messages(f"distributie/{destination}")] == [REPORT]


def test_moving_a_message_that_was_moved_already_is_no_error(imap_server: TestIMAPServer) -> None:
    uid = imap_server.append("INBOX", REPORT)

    with BounceMailbox(imap_server.settings()) as mailbox:
        mailbox.ensure_folders()
        mailbox.move(uid, "verwerkt")
        mailbox.move(uid, "verwerkt")

    assert [m.raw for m in imap_server.messages("distributie/verwerkt")] == [REPORT]


def test_without_move_the_message_is_copied_and_only_its_uid_expunged() -> None:
    with TestIMAPServer(without=["MOVE"]) as imap:
        uid = imap.append("INBOX", REPORT)
        flagged = imap.append("INBOX", report(2), flags=["\\Deleted"])

        with BounceMailbox(imap.settings()) as mailbox:
            mailbox.ensure_folders()
            mailbox.move(uid, "verwerkt")

        assert [m.raw for m in imap.messages("distributie/verwerkt")] == [REPORT]
        assert [m.uid for m in imap.messages("INBOX")] == [flagged]


def test_without_move_or_uidplus_nothing_is_expunged_and_the_original_is_not_read_again() -> None:
    with TestIMAPServer(without=["MOVE", "UIDPLUS"]) as imap:
        uid = imap.append("INBOX", REPORT)
        flagged = imap.append("INBOX", report(2), flags=["\\Deleted"])

        with BounceMailbox(imap.settings()) as mailbox:
            mailbox.ensure_folders()
            mailbox.move(uid, "onbekend")
            left = mailbox.unprocessed()

        assert [m.raw for m in imap.messages("distributie/onbekend")] == [REPORT]
        assert [m.uid for m in imap.messages("INBOX")] == [uid, flagged]
        assert left == []


def test_of_a_message_over_the_limit_only_the_header_section_is_fetched(
    imap_server: TestIMAPServer,
) -> None:
    large = REPORT + b"x" * 5000 + b"\r\n"
    imap_server.append("INBOX", large)

    with BounceMailbox(imap_server.settings(), max_bytes=1000) as mailbox:
        (fetched,) = mailbox.fetch_unprocessed()

    assert fetched.truncated
    assert fetched.size == len(large)
    assert fetched.raw == REPORT.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
