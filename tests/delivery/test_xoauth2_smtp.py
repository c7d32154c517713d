"""XOAUTH2 sign-in end to end: smtplib against the real XOAUTH2 SMTP server with tokens from the
real token endpoint; expired tokens and expired sessions refused as Microsoft 365 does."""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from distributie.oauth import AccessToken, TokenSource, xoauth2_authobject
from distributie.settings import load_settings
from tests.support.oauth import TokenEndpoint
from tests.support.xoauth2_smtp import XOAuth2SMTPServer

MESSAGE = b"From: secretariaat@veiligheidscollege.example\r\nSubject: test\r\n\r\nHallo.\r\n"


@pytest.fixture
def source(oauth_endpoint: TokenEndpoint) -> TokenSource:
    return TokenSource(
        token_url=oauth_endpoint.token_url,
        client_id=oauth_endpoint.client_id,
        client_secret=SecretStr(oauth_endpoint.client_secret),
        ca_file=oauth_endpoint.ca_file,
        timeout=5.0,
    )


@pytest.fixture
def client_context(smtp_ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(smtp_ca_file))


def signed_in(
    server: XOAuth2SMTPServer, token: AccessToken, context: ssl.SSLContext
) -> smtplib.SMTP:
    smtp = smtplib.SMTP(server.host, server.port, local_hostname="client.test", timeout=5)
    smtp.starttls(context=context)
    smtp.ehlo()
    smtp.auth("XOAUTH2", xoauth2_authobject(server.mailbox, token), initial_response_ok=True)
    return smtp


@pytest.fixture
def smtp_clients() -> Iterator[list[smtplib.SMTP]]:
    clients: list[smtplib.SMTP] = []
    yield clients
    for client in clients:
        client.close()


def test_smtplib_signs_in_with_xoauth2_and_sends(
    xoauth2_smtp_server: XOAuth2SMTPServer,
    source: TokenSource,
    client_context: ssl.SSLContext,
    smtp_clients: list[smtplib.SMTP],
) -> None:
    smtp = signed_in(xoauth2_smtp_server, source.token(), client_context)
    smtp_clients.append(smtp)

    smtp.sendmail(xoauth2_smtp_server.mailbox, ["burgemeester@baarn.example"], MESSAGE)

    assert [m.rcpt_tos for m in xoauth2_smtp_server.messages] == [("burgemeester@baarn.example",)]
    assert [s.accepted for s in xoauth2_smtp_server.sign_ins] == [True]


def test_the_server_offers_only_xoauth2_and_only_after_starttls(
    xoauth2_smtp_server: XOAuth2SMTPServer,
    client_context: ssl.SSLContext,
    smtp_clients: list[smtplib.SMTP],
) -> None:
    smtp = smtplib.SMTP(xoauth2_smtp_server.host, xoauth2_smtp_server.port, timeout=5)
    smtp_clients.append(smtp)
    smtp.ehlo()
    assert not smtp.has_extn("auth")
    smtp.starttls(context=client_context)
    smtp.ehlo()

    assert smtp.esmtp_features["auth"].split() == ["XOAUTH2"]


def test_an_expired_token_is_refused_with_535_5_7_3(
    xoauth2_smtp_server: XOAuth2SMTPServer,
    oauth_endpoint: TokenEndpoint,
    source: TokenSource,
    client_context: ssl.SSLContext,
    smtp_clients: list[smtplib.SMTP],
) -> None:
    oauth_endpoint.lifetime = 1
    token = source.token()
    time.sleep(1.1)

    with pytest.raises(smtplib.SMTPAuthenticationError) as info:
        signed_in(xoauth2_smtp_server, token, client_context)

    assert (info.value.smtp_code, info.value.smtp_error) == (
        535,
        b"5.7.3 Authentication unsuccessful",
    )


def test_a_session_whose_token_expired_is_refused_and_a_renewed_token_signs_in(
    xoauth2_smtp_server: XOAuth2SMTPServer,
    oauth_endpoint: TokenEndpoint,
    source: TokenSource,
    client_context: ssl.SSLContext,
    smtp_clients: list[smtplib.SMTP],
) -> None:
    token = source.token()
    smtp = signed_in(xoauth2_smtp_server, token, client_context)
    smtp_clients.append(smtp)
    oauth_endpoint.expire_all()

    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        smtp.sendmail(xoauth2_smtp_server.mailbox, ["burgemeester@baarn.example"], MESSAGE)
    assert info.value.smtp_code == 535

    # What the transport does: renew the refused token once, sign in again, send.
    again = signed_in(xoauth2_smtp_server, source.renew(token), client_context)
    smtp_clients.append(again)
    again.sendmail(xoauth2_smtp_server.mailbox, ["burgemeester@baarn.example"], MESSAGE)
    assert len(xoauth2_smtp_server.messages) == 1
    assert xoauth2_smtp_server.expired_sessions == 1


def test_a_session_whose_token_expired_can_be_closed_with_421(
    xoauth2_smtp_server: XOAuth2SMTPServer,
    oauth_endpoint: TokenEndpoint,
    source: TokenSource,
    client_context: ssl.SSLContext,
    smtp_clients: list[smtplib.SMTP],
) -> None:
    xoauth2_smtp_server.on_expired = "421"
    smtp = signed_in(xoauth2_smtp_server, source.token(), client_context)
    smtp_clients.append(smtp)
    oauth_endpoint.expire_all()

    code, _ = smtp.mail(xoauth2_smtp_server.mailbox)

    assert code == 421
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtp.noop()


def test_the_servers_environment_configures_a_client_in_another_process(
    xoauth2_smtp_server: XOAuth2SMTPServer,
    oauth_endpoint: TokenEndpoint,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    for name, value in xoauth2_smtp_server.environ().items():
        monkeypatch.setenv(name, value)

    settings = load_settings()
    token = TokenSource.from_settings(settings).token()

    assert (settings.smtp_auth, settings.smtp_username) == ("xoauth2", xoauth2_smtp_server.mailbox)
    assert oauth_endpoint.is_current(token.value)
