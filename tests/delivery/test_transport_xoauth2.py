"""The SMTP transport signing in with XOAUTH2 against the real XOAUTH2 SMTP server and the real
HTTPS token endpoint: tokens reused and renewed on time, a session whose token the server no
longer takes signed in again once (535 and 421), token endpoint errors classified, and no token
in anything the transport says."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from distributie.delivery.transport import (
    Envelope,
    PermanentSendError,
    SendError,
    SMTPConfigurationError,
    SMTPTransport,
    TransientSendError,
)
from tests.support.oauth import OAUTH_CLIENT_SECRET, TokenEndpoint
from tests.support.smtp import RecordingSMTPServer
from tests.support.xoauth2_smtp import MAILBOX, XOAuth2SMTPServer


def envelope(n: int) -> Envelope:
    return Envelope(MAILBOX, (f"burgemeester@g{n:04d}.example",), "run-1", f"g{n:04d}")


def message(n: int) -> bytes:
    return (
        f"From: {MAILBOX}\r\nTo: burgemeester@g{n:04d}.example\r\n"
        f"X-Distributie-Recipient: g{n:04d}\r\nSubject: test {n}\r\n\r\nHallo.\r\n"
    ).encode()


def nothing() -> None:
    pass


@pytest.fixture
def transports() -> Iterator[list[SMTPTransport]]:
    made: list[SMTPTransport] = []
    yield made
    for transport in made:
        transport.close()


@pytest.fixture
def transport_for(
    transports: list[SMTPTransport],
) -> Any:
    def make(server: RecordingSMTPServer, **overrides: Any) -> SMTPTransport:
        transport = SMTPTransport(server.settings(**overrides))
        transports.append(transport)
        return transport

    return make


def send(transport: SMTPTransport, n: int) -> str:
    return str(transport.send(envelope(n), message(n), nothing))


def received(server: RecordingSMTPServer) -> list[str | None]:
    return [m.recipient for m in server.messages]


# -- signing in and reusing ------------------------------------------------------------------


def test_the_transport_signs_in_with_xoauth2_and_reuses_the_connection_and_token(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    transport = transport_for(xoauth2_smtp_server)

    send(transport, 1)
    send(transport, 2)

    assert received(xoauth2_smtp_server) == ["g0001", "g0002"]
    assert xoauth2_smtp_server.connections == 1
    assert [s.accepted for s in xoauth2_smtp_server.sign_ins] == [True]
    assert oauth_endpoint.request_count == 1


def test_a_connection_is_not_reused_once_its_token_is_due_for_renewal(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    oauth_endpoint.lifetime = 2  # renewed from 1.8 s on
    transport = transport_for(xoauth2_smtp_server)
    send(transport, 1)
    time.sleep(1.9)

    send(transport, 2)

    assert received(xoauth2_smtp_server) == ["g0001", "g0002"]
    sign_ins = xoauth2_smtp_server.sign_ins
    assert [(s.connection, s.accepted) for s in sign_ins] == [(1, True), (2, True)]
    assert sign_ins[0].token != sign_ins[1].token
    assert xoauth2_smtp_server.commands(1)[-1] == "QUIT"  # closed politely, not dropped
    assert xoauth2_smtp_server.expired_sessions == 0
    assert oauth_endpoint.request_count == 2


# -- a session whose token the server no longer takes -----------------------------------------


def test_a_session_refused_with_535_signs_in_again_with_a_new_token_and_sends_once(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    transport = transport_for(xoauth2_smtp_server)
    send(transport, 1)
    oauth_endpoint.expire_all()  # revoked: the client's clock still says the token is good

    reply = send(transport, 2)

    assert reply.startswith("250")
    assert received(xoauth2_smtp_server) == ["g0001", "g0002"]
    assert xoauth2_smtp_server.expired_sessions == 1
    assert [(s.connection, s.accepted) for s in xoauth2_smtp_server.sign_ins] == [
        (1, True),
        (2, True),
    ]
    assert oauth_endpoint.request_count == 2


def test_a_session_closed_with_421_signs_in_again_and_sends_once(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    xoauth2_smtp_server.on_expired = "421"
    transport = transport_for(xoauth2_smtp_server)
    send(transport, 1)
    oauth_endpoint.expire_all()

    reply = send(transport, 2)

    assert reply.startswith("250")
    assert received(xoauth2_smtp_server) == ["g0001", "g0002"]
    assert xoauth2_smtp_server.expired_sessions == 1
    # After a 421 the old token is tried first; AUTH refuses it and a new one signs in.
    assert [(s.connection, s.accepted) for s in xoauth2_smtp_server.sign_ins] == [
        (1, True),
        (2, False),
        (2, True),
    ]
    assert oauth_endpoint.request_count == 2


@pytest.mark.parametrize(
    ("on_expired", "error"), [("535", PermanentSendError), ("421", TransientSendError)]
)
def test_a_session_is_signed_in_again_only_once_per_message(
    xoauth2_smtp_server: XOAuth2SMTPServer,
    oauth_endpoint: TokenEndpoint,
    transport_for: Any,
    on_expired: Any,
    error: type[SendError],
) -> None:
    xoauth2_smtp_server.on_expired = on_expired
    xoauth2_smtp_server.expire_sessions_at_mail = True
    transport = transport_for(xoauth2_smtp_server)

    with pytest.raises(error) as raised:
        send(transport, 1)

    assert raised.value.reply.code == int(on_expired)
    assert received(xoauth2_smtp_server) == []
    assert xoauth2_smtp_server.connections == 2
    assert xoauth2_smtp_server.expired_sessions == 2


def test_a_token_refused_at_sign_in_is_renewed_once_and_signs_in(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    transport = transport_for(xoauth2_smtp_server)
    send(transport, 1)
    transport.close()
    oauth_endpoint.expire_all()

    send(transport, 2)

    assert received(xoauth2_smtp_server) == ["g0001", "g0002"]
    assert [(s.connection, s.accepted) for s in xoauth2_smtp_server.sign_ins] == [
        (1, True),
        (2, False),
        (2, True),
    ]
    assert oauth_endpoint.request_count == 2


def test_a_mailbox_the_token_does_not_open_is_a_configuration_error_after_one_renewal(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    transport = transport_for(xoauth2_smtp_server, smtp_username="voorzitter@elders.example")

    with pytest.raises(SMTPConfigurationError) as first:
        send(transport, 1)
    with pytest.raises(SMTPConfigurationError):
        send(transport, 2)

    assert str(first.value).startswith("535 5.7.3 Authentication unsuccessful; ")
    assert "voorzitter@elders.example" in str(first.value)
    assert "service principal" in str(first.value)
    # Renewed once for the first message; the same refused token is not renewed again.
    assert oauth_endpoint.request_count == 2
    assert received(xoauth2_smtp_server) == []


# -- the token endpoint ----------------------------------------------------------------------


def test_a_token_endpoint_answering_5xx_is_transient_and_no_connection_is_opened(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    oauth_endpoint.fail(503)
    transport = transport_for(xoauth2_smtp_server)

    with pytest.raises(TransientSendError) as raised:
        send(transport, 1)
    send(transport, 2)

    assert "HTTP 503" in str(raised.value)
    assert type(raised.value) is TransientSendError
    assert received(xoauth2_smtp_server) == ["g0002"]
    assert xoauth2_smtp_server.connections == 1


def test_a_refused_client_is_a_configuration_error_without_the_secret(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    transport = transport_for(xoauth2_smtp_server, oauth_client_secret="Wrong~secret-0123456789")

    with pytest.raises(SMTPConfigurationError) as raised:
        send(transport, 1)

    text = str(raised.value)
    assert "invalid_client" in text and "DISTRIBUTIE_OAUTH_CLIENT_ID" in text
    assert "Wrong~secret" not in text and OAUTH_CLIENT_SECRET not in text
    assert xoauth2_smtp_server.connections == 0


def test_a_server_without_auth_xoauth2_is_a_configuration_error(
    smtp_tls_server: RecordingSMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    transport = transport_for(
        smtp_tls_server, smtp_auth="xoauth2", **oauth_endpoint.settings_values()
    )

    with pytest.raises(SMTPConfigurationError) as raised:
        send(transport, 1)

    assert "does not offer AUTH XOAUTH2 (it offers LOGIN PLAIN)" in str(raised.value)


# -- secrets ---------------------------------------------------------------------------------


@pytest.fixture
def echoing_server(
    smtp_ca: trustme.CA, smtp_ca_file: Path, oauth_endpoint: TokenEndpoint
) -> Iterator[XOAuth2SMTPServer]:
    with XOAuth2SMTPServer(
        ca=smtp_ca, ca_file=smtp_ca_file, endpoint=oauth_endpoint, echo_token_on_refusal=True
    ) as server:
        yield server


def test_a_token_the_server_quotes_back_is_taken_out_of_the_error(
    echoing_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, transport_for: Any
) -> None:
    transport = transport_for(echoing_server, smtp_username="voorzitter@elders.example")

    with pytest.raises(SMTPConfigurationError) as raised:
        send(transport, 1)

    tokens = oauth_endpoint.issued
    assert len(tokens) == 2
    # The server really did quote the token back...
    assert any(tokens[-1] in reply for reply in echoing_server.replies())
    # ...and the transport passes on none of it.
    text = str(raised.value) + repr(raised.value) + repr(transport)
    assert "(token '***' not accepted)" in text
    assert not any(token[:20] in text for token in tokens)
    assert not any(base64.b64encode(token.encode()).decode()[:20] in text for token in tokens)
