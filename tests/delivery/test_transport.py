"""The SMTP transport against real loopback servers (aiosmtpd), and the outbox transport."""

from __future__ import annotations

import pickle
import socket
import traceback
from pathlib import Path

import pytest

from distributie.delivery.transport import (
    CertificateError,
    Envelope,
    OutboxTransport,
    PermanentSendError,
    Reply,
    SMTPConfigurationError,
    SMTPTransport,
    TransientSendError,
    UnknownOutcomeError,
    make_transport,
)
from tests.support.smtp import (
    RecordingSMTPServer,
    smtp_ca,
    smtp_ca_file,
    smtp_implicit_tls_server,
    smtp_server,
    smtp_tls_server,
    smtp_untrusted_server,
)

__all__ = [
    "smtp_ca",
    "smtp_ca_file",
    "smtp_implicit_tls_server",
    "smtp_server",
    "smtp_tls_server",
    "smtp_untrusted_server",
]

SENDER = "secretariaat@veiligheidscollege-mn.example"
TIMEOUT = 1.0


def envelope(key: str = "utrecht", address: str | None = None) -> Envelope:
    return Envelope(
        sender=SENDER,
        recipients=(address or f"burgemeester@{key}.example",),
        run_id="run-1",
        recipient_key=key,
    )


def message(key: str = "utrecht") -> bytes:
    # LF line endings and a line starting with a dot: the transport must fix both.
    return (
        f"From: {SENDER}\n"
        f"To: burgemeester@{key}.example\n"
        f"Subject: Veiligheidsstrategie {key}\n"
        f"Message-ID: <{key}@distributie.test>\n"
        f"X-Distributie-Recipient: =?utf-8?q?S=C3=BAdwest-Frysl=C3=A2n_{key}?=\n"
        f"\n"
        f"Geachte burgemeester,\n"
        f".punt aan het begin\n"
        f"Met vriendelijke groet\n"
    ).encode()


class Calls:
    """A before_end_of_data callback that counts its calls."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def transport_for(server: RecordingSMTPServer, **overrides: object) -> SMTPTransport:
    return SMTPTransport(server.settings(smtp_timeout=TIMEOUT, **overrides))


def test_accepted_message_returns_250_and_is_recorded(smtp_server: RecordingSMTPServer) -> None:
    with transport_for(smtp_server) as transport:
        reply = transport.send(envelope(), message(), Calls())

    assert reply.code == 250
    [received] = smtp_server.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ("burgemeester@utrecht.example",)
    assert received.recipient == "Súdwest-Fryslân utrecht"
    assert received.message_id == "<utrecht@distributie.test>"
    assert b"\r\n.punt aan het begin\r\n" in received.data
    assert received.data.endswith(b"Met vriendelijke groet\r\n")


def test_connection_reused_across_three_messages_without_rset_after_a_completed_one(
    smtp_server: RecordingSMTPServer,
) -> None:
    with transport_for(smtp_server) as transport:
        for key in ("utrecht", "zeist", "houten"):
            transport.send(envelope(key), message(key), Calls())

    assert smtp_server.connections == 1
    verbs = [v for v in smtp_server.commands() if v in {"MAIL", "RSET", "NOOP"}]
    assert verbs == ["MAIL", "MAIL", "MAIL"]
    assert smtp_server.deliveries_by_address() == {
        "burgemeester@utrecht.example": 1,
        "burgemeester@zeist.example": 1,
        "burgemeester@houten.example": 1,
    }


def test_reconnects_after_the_server_closed_the_connection(
    smtp_server: RecordingSMTPServer,
) -> None:
    with transport_for(smtp_server) as transport:
        transport.send(envelope("utrecht"), message("utrecht"), Calls())
        smtp_server.disconnect_all()
        reply = transport.send(envelope("zeist"), message("zeist"), Calls())

    assert reply.code == 250
    assert smtp_server.connections == 2
    assert len(smtp_server.messages) == 2


def test_starttls_and_auth_with_the_test_ca(smtp_tls_server: RecordingSMTPServer) -> None:
    with transport_for(smtp_tls_server) as transport:
        reply = transport.send(envelope(), message(), Calls())

    assert reply.code == 250
    assert smtp_tls_server.commands()[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]
    assert len(smtp_tls_server.messages) == 1


def test_untrusted_certificate_is_a_certificate_error(
    smtp_untrusted_server: RecordingSMTPServer,
) -> None:
    with (
        transport_for(smtp_untrusted_server) as transport,
        pytest.raises(CertificateError) as caught,
    ):
        transport.send(envelope(), message(), Calls())

    assert isinstance(caught.value, PermanentSendError)
    assert caught.value.reply.code is None
    assert "unable to get local issuer certificate" in caught.value.reply.text
    assert smtp_untrusted_server.messages == []


def test_implicit_tls_with_auth_works(smtp_implicit_tls_server: RecordingSMTPServer) -> None:
    with transport_for(smtp_implicit_tls_server) as transport:
        reply = transport.send(envelope(), message(), Calls())

    assert reply.code == 250
    assert "STARTTLS" not in smtp_implicit_tls_server.commands()
    assert "AUTH" in smtp_implicit_tls_server.commands()
    assert len(smtp_implicit_tls_server.messages) == 1


def test_starttls_required_but_not_offered_is_a_configuration_error(
    smtp_server: RecordingSMTPServer, smtp_ca_file: Path
) -> None:
    settings = smtp_server.settings(smtp_security="starttls", smtp_ca_file=smtp_ca_file)
    with SMTPTransport(settings) as transport, pytest.raises(SMTPConfigurationError) as caught:
        transport.send(envelope(), message(), Calls())

    assert "STARTTLS" in str(caught.value)
    assert "MAIL" not in smtp_server.commands()


def test_550_on_rcpt_is_permanent_with_the_server_reply(
    smtp_server: RecordingSMTPServer,
) -> None:
    smtp_server.pipelining = False
    smtp_server.plan.refuse("burgemeester@utrecht.example", 550, "5.1.1 No such mailbox here")
    with transport_for(smtp_server) as transport, pytest.raises(PermanentSendError) as caught:
        transport.send(envelope(), message(), Calls())

    assert caught.value.reply == Reply(550, "5.1.1 No such mailbox here")
    assert "DATA" not in smtp_server.commands()


def test_550_on_a_pipelined_rcpt_is_that_refusal_and_no_message_goes_out(
    smtp_server: RecordingSMTPServer,
) -> None:
    smtp_server.plan.refuse("burgemeester@utrecht.example", 550, "5.1.1 No such mailbox here")
    calls = Calls()
    with transport_for(smtp_server) as transport, pytest.raises(PermanentSendError) as caught:
        transport.send(envelope(), message(), calls)

    assert caught.value.reply == Reply(550, "5.1.1 No such mailbox here")
    assert smtp_server.pipelined_envelopes == 1
    assert smtp_server.replies()[-3:-1] == [
        "550 5.1.1 No such mailbox here",
        "503 Error: need RCPT command",
    ]
    assert smtp_server.messages == []
    assert calls.count == 0


def test_451_on_rcpt_is_transient(smtp_server: RecordingSMTPServer) -> None:
    smtp_server.plan.fail_rcpt("burgemeester@utrecht.example", 451)
    with transport_for(smtp_server) as transport, pytest.raises(TransientSendError) as caught:
        transport.send(envelope(), message(), Calls())

    assert caught.value.reply.code == 451
    assert smtp_server.messages == []


def test_421_on_connect_is_transient(smtp_server: RecordingSMTPServer) -> None:
    smtp_server.plan.refuse_connections(times=1)
    with transport_for(smtp_server) as transport:
        with pytest.raises(TransientSendError) as caught:
            transport.send(envelope(), message(), Calls())
        assert caught.value.reply.code == 421
        # The next connection is greeted normally.
        assert transport.send(envelope(), message(), Calls()).code == 250


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    server = RecordingSMTPServer()  # never started: only for its settings
    server.port = closed_port
    with transport_for(server) as transport, pytest.raises(TransientSendError) as caught:
        transport.send(envelope(), message(), Calls())

    assert caught.value.reply == Reply(None, f"connection refused by 127.0.0.1:{closed_port}")


def test_drop_before_end_of_data_is_transient_and_not_recorded(
    smtp_server: RecordingSMTPServer,
) -> None:
    smtp_server.plan.drop_before_data()
    callback = Calls()
    with transport_for(smtp_server) as transport, pytest.raises(TransientSendError):
        transport.send(envelope(), message(), callback)

    assert callback.count == 0
    assert smtp_server.messages == []


def test_drop_after_end_of_data_is_unknown_and_recorded_once(
    smtp_server: RecordingSMTPServer,
) -> None:
    smtp_server.plan.drop_after_data()
    callback = Calls()
    with transport_for(smtp_server) as transport, pytest.raises(UnknownOutcomeError) as caught:
        transport.send(envelope(), message(), callback)

    assert caught.value.reply.code is None
    assert "may have been accepted" in caught.value.reply.text
    assert callback.count == 1
    assert smtp_server.deliveries_by_recipient() == {"Súdwest-Fryslân utrecht": 1}


def test_slow_reply_after_end_of_data_is_unknown(smtp_server: RecordingSMTPServer) -> None:
    smtp_server.plan.slow_reply_after_data(seconds=TIMEOUT * 3)
    with transport_for(smtp_server) as transport, pytest.raises(UnknownOutcomeError) as caught:
        transport.send(envelope(), message(), Calls())

    assert f"no reply within {TIMEOUT:g} s" in caught.value.reply.text
    assert len(smtp_server.messages) == 1


def test_slow_reply_to_rcpt_is_transient(smtp_server: RecordingSMTPServer) -> None:
    smtp_server.plan.slow_reply_to_rcpt(seconds=TIMEOUT * 3)
    with transport_for(smtp_server) as transport:
        with pytest.raises(TransientSendError) as caught:
            transport.send(envelope(), message(), Calls())
        assert "timed out" in caught.value.reply.text
        # The late connection is abandoned; the next message goes through a fresh one.
        assert transport.send(envelope(), message(), Calls()).code == 250

    assert smtp_server.connections == 2
    assert len(smtp_server.messages) == 1


def test_4xx_after_end_of_data_is_transient(smtp_server: RecordingSMTPServer) -> None:
    smtp_server.plan.fail_data(code=452)
    with transport_for(smtp_server) as transport, pytest.raises(TransientSendError) as caught:
        transport.send(envelope(), message(), Calls())

    assert caught.value.reply.code == 452
    assert smtp_server.messages == []


def test_5xx_after_end_of_data_is_permanent(smtp_server: RecordingSMTPServer) -> None:
    smtp_server.plan.fail_data(code=554)
    with transport_for(smtp_server) as transport, pytest.raises(PermanentSendError) as caught:
        transport.send(envelope(), message(), Calls())

    assert caught.value.reply.code == 554


def test_raising_callback_propagates_and_nothing_is_recorded(
    smtp_server: RecordingSMTPServer,
) -> None:
    class LedgerDown(Exception):
        pass

    def before_end_of_data() -> None:
        raise LedgerDown("redis unavailable")

    with transport_for(smtp_server) as transport:
        with pytest.raises(LedgerDown, match="redis unavailable"):
            transport.send(envelope(), message(), before_end_of_data)
        assert transport.send(envelope("zeist"), message("zeist"), Calls()).code == 250

    assert [m.recipient for m in smtp_server.messages] == ["Súdwest-Fryslân zeist"]
    assert smtp_server.connections == 2


def test_callback_is_called_exactly_once_per_successful_send(
    smtp_server: RecordingSMTPServer,
) -> None:
    callback = Calls()
    with transport_for(smtp_server) as transport:
        for key in ("utrecht", "zeist"):
            transport.send(envelope(key), message(key), callback)

    assert callback.count == 2


def test_failed_transaction_is_followed_by_a_clean_message(
    smtp_server: RecordingSMTPServer,
) -> None:
    smtp_server.plan.refuse("burgemeester@utrecht.example")
    with transport_for(smtp_server) as transport:
        with pytest.raises(PermanentSendError):
            transport.send(envelope("utrecht"), message("utrecht"), Calls())
        assert transport.send(envelope("zeist"), message("zeist"), Calls()).code == 250

    assert smtp_server.connections == 1
    # The refused transaction is cleared with RSET: no "nested MAIL" for the next message.
    assert "RSET" in smtp_server.commands()
    assert not [r for r in smtp_server.replies() if "nested MAIL" in r]


def test_password_never_in_any_exception_text(smtp_ca: object, smtp_ca_file: Path) -> None:
    wrong = "wrong-Pa55word-xyz"
    with RecordingSMTPServer(
        security="starttls",
        ca=smtp_ca,  # type: ignore[arg-type]
        ca_file=smtp_ca_file,
        username="distributie",
        password="right-password",
        echo_password_on_auth_failure=True,
    ) as server:
        transport = transport_for(server, smtp_password=wrong)
        with pytest.raises(SMTPConfigurationError) as caught:
            transport.send(envelope(), message(), Calls())
        transport.close()

    error = caught.value
    assert error.reply.code == 535
    assert "***" in error.reply.text  # the server did echo it
    shown = "".join(traceback.format_exception(error)) + repr(error) + str(error)
    assert wrong not in shown
    assert wrong not in repr(transport)


def test_gate_is_held_while_connected_and_released_on_close_and_errors(
    smtp_server: RecordingSMTPServer,
) -> None:
    class Gate:
        def __init__(self) -> None:
            self.held = 0
            self.acquired = 0

        def acquire(self) -> None:
            self.acquired += 1
            self.held += 1

        def release(self) -> None:
            self.held -= 1

    gate = Gate()
    smtp_server.plan.drop_after_data()
    transport = SMTPTransport(smtp_server.settings(smtp_timeout=TIMEOUT), gate)
    with pytest.raises(UnknownOutcomeError):
        transport.send(envelope(), message(), Calls())
    assert gate.held == 0
    transport.send(envelope(), message(), Calls())
    transport.send(envelope(), message(), Calls())
    assert (gate.held, gate.acquired) == (1, 2)
    transport.close()
    assert gate.held == 0


def test_send_errors_survive_pickling() -> None:
    error = TransientSendError(Reply(451, "4.3.0 try again"))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is TransientSendError
    assert copy.reply == error.reply
    assert str(copy) == "451 4.3.0 try again"


def test_outbox_writes_the_message_atomically_and_calls_the_callback(tmp_path: Path) -> None:
    transport = OutboxTransport(tmp_path)
    seen: list[list[str]] = []

    def before_end_of_data() -> None:
        # At this moment only the temporary file exists, never a partial .eml.
        seen.append(sorted(p.name for p in (tmp_path / "run-1").iterdir()))

    reply = transport.send(envelope("utrecht"), message("utrecht"), before_end_of_data)

    target = tmp_path / "run-1" / "utrecht.eml"
    assert reply == Reply(250, f"written to {target}")
    assert target.read_bytes() == message("utrecht")
    assert len(seen) == 1 and not any(name.endswith(".eml") for name in seen[0])
    assert [p.name for p in (tmp_path / "run-1").iterdir()] == ["utrecht.eml"]


def test_outbox_leaves_nothing_when_the_callback_raises(tmp_path: Path) -> None:
    def before_end_of_data() -> None:
        raise RuntimeError("ledger unavailable")

    with pytest.raises(RuntimeError):
        OutboxTransport(tmp_path).send(envelope(), message(), before_end_of_data)
    assert list((tmp_path / "run-1").iterdir()) == []


@pytest.mark.parametrize("key", ["../escape", "..", "a/b", "", ".hidden", "a\\b"])
def test_outbox_refuses_keys_that_leave_the_folder(tmp_path: Path, key: str) -> None:
    callback = Calls()
    with pytest.raises(PermanentSendError, match="refusing recipient key"):
        OutboxTransport(tmp_path).send(envelope(key), message(), callback)
    assert callback.count == 0
    assert not list(tmp_path.rglob("*"))


def test_make_transport_picks_outbox_without_smtp_host(
    smtp_server: RecordingSMTPServer, tmp_path: Path
) -> None:
    outbox = make_transport(smtp_server.settings(smtp_host=None, outbox_dir=tmp_path))
    assert isinstance(outbox, OutboxTransport)
    smtp = make_transport(smtp_server.settings())
    assert isinstance(smtp, SMTPTransport)
    smtp.close()
