"""oauth.py: client-credentials tokens from a real HTTPS token endpoint, reused and renewed on
time, errors classified, secrets kept; the XOAUTH2 initial response."""

from __future__ import annotations

import base64
import logging
import math
import os
import threading
import time
from pathlib import Path

import pytest
import trustme
from pydantic import SecretStr

from distributie.bounces.mailbox import BounceMailbox
from distributie.errors import ConfigError
from distributie.oauth import (
    AccessToken,
    TokenRefusedError,
    TokenSource,
    TokenUnavailableError,
    shared_token_source,
    xoauth2_authobject,
    xoauth2_base64,
    xoauth2_string,
)
from distributie.settings import Settings, load_settings
from tests.support.imap import TestIMAPServer
from tests.support.oauth import OAUTH_CLIENT_SECRET, TokenEndpoint, free_port


def source_for(endpoint: TokenEndpoint, **changes: object) -> TokenSource:
    values: dict[str, object] = {
        "token_url": endpoint.token_url,
        "client_id": endpoint.client_id,
        "client_secret": SecretStr(endpoint.client_secret),
        "scope": endpoint.scope,
        "ca_file": endpoint.ca_file,
        "timeout": 5.0,
    }
    values.update(changes)
    return TokenSource(**values)  # type: ignore[arg-type]


@pytest.fixture
def source(oauth_endpoint: TokenEndpoint) -> TokenSource:
    return source_for(oauth_endpoint)


# -- reuse and renewal -----------------------------------------------------------------------


def test_a_token_is_reused_while_it_is_fresh(
    oauth_endpoint: TokenEndpoint, source: TokenSource
) -> None:
    first = source.token()
    second = source.token()

    assert second is first
    assert oauth_endpoint.request_count == 1
    assert oauth_endpoint.is_current(first.value)


def test_a_token_is_renewed_a_tenth_of_its_lifetime_before_it_expires(
    oauth_endpoint: TokenEndpoint, source: TokenSource
) -> None:
    oauth_endpoint.lifetime = 5
    first = source.token()
    time.sleep(4.2)
    assert source.token() is first

    # 4.55 s: past 5 s - 0.5 s, and still before the server lets it expire, with room for a
    # request on a busy machine.
    time.sleep(0.35)
    second = source.token()

    assert second is not first
    assert oauth_endpoint.is_current(first.value)
    assert oauth_endpoint.request_count == 2


@pytest.mark.parametrize(
    ("lifetime", "renew_after"), [(3600, 3300), (4000, 3700), (20, 18), (1, 0.9)]
)
def test_renewal_comes_five_minutes_or_a_tenth_of_the_lifetime_before_expiry(
    lifetime: float, renew_after: float
) -> None:
    token = AccessToken("x", lifetime, obtained_at=1000.0)

    assert token.renew_at == pytest.approx(1000.0 + renew_after)


def test_threads_share_one_token_request_per_lifetime(
    oauth_endpoint: TokenEndpoint, source: TokenSource
) -> None:
    oauth_endpoint.lifetime = 1
    duration = 2.5
    stale: list[str] = []
    start = time.monotonic()

    def use_tokens() -> None:
        while time.monotonic() - start < duration:
            token = source.token()
            if not oauth_endpoint.is_current(token.value):
                stale.append("a token that had expired at the server")
            time.sleep(0.005)

    threads = [threading.Thread(target=use_tokens) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # A new token every 0.9 s (a tenth before the 1 s lifetime), never more often.
    assert oauth_endpoint.request_count <= math.floor(duration / 0.9) + 1
    assert oauth_endpoint.request_count >= 2
    assert stale == []


def test_renewing_a_refused_token_asks_once_for_all_threads(
    oauth_endpoint: TokenEndpoint, source: TokenSource
) -> None:
    refused = source.token()
    oauth_endpoint.expire_all()  # the server no longer takes it, the client does not know
    results: list[AccessToken] = []
    barrier = threading.Barrier(6)

    def renew() -> None:
        barrier.wait()
        results.append(source.renew(refused))

    threads = [threading.Thread(target=renew) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert oauth_endpoint.request_count == 2
    assert len({id(token) for token in results}) == 1
    assert oauth_endpoint.is_current(results[0].value)


def test_forget_makes_the_next_call_fetch_a_new_token(
    oauth_endpoint: TokenEndpoint, source: TokenSource
) -> None:
    first = source.token()
    source.forget()

    assert source.token() is not first
    assert source.requests == oauth_endpoint.request_count == 2


def test_settings_give_a_source_with_the_tenant_in_the_url(
    oauth_endpoint: TokenEndpoint,
) -> None:
    settings = Settings(_env_file=None, **oauth_endpoint.settings_values())  # type: ignore[call-arg]

    token = TokenSource.from_settings(settings).token()

    assert oauth_endpoint.is_current(token.value)
    request = oauth_endpoint.requests[0]
    assert request.path == f"/{oauth_endpoint.tenant}/oauth2/v2.0/token"
    assert (request.grant_type, request.scope) == ("client_credentials", oauth_endpoint.scope)


# -- errors ------------------------------------------------------------------------------------


def test_a_refused_client_is_a_configuration_error_in_one_line(
    oauth_endpoint: TokenEndpoint, source: TokenSource
) -> None:
    oauth_endpoint.refuse_client("invalid_client")

    with pytest.raises(TokenRefusedError) as info:
        source.token()

    assert isinstance(info.value, ConfigError)
    assert info.value.exit_code == 2
    assert "invalid_client" in str(info.value)
    assert "AADSTS7000215" in str(info.value)
    assert "\n" not in str(info.value) and "Trace ID" not in str(info.value)


def test_an_unauthorized_client_is_a_configuration_error(
    oauth_endpoint: TokenEndpoint, source: TokenSource
) -> None:
    oauth_endpoint.refuse_client("unauthorized_client", status=400)

    with pytest.raises(TokenRefusedError, match="unauthorized_client"):
        source.token()


def test_a_wrong_client_secret_is_refused_as_invalid_client(
    oauth_endpoint: TokenEndpoint,
) -> None:
    source = source_for(oauth_endpoint, client_secret=SecretStr("wrong-secret-value"))

    with pytest.raises(TokenRefusedError, match="invalid_client") as info:
        source.token()

    assert "wrong-secret-value" not in str(info.value)


def test_a_wrong_scope_is_a_configuration_error_naming_the_setting(
    oauth_endpoint: TokenEndpoint,
) -> None:
    source = source_for(oauth_endpoint, scope="https://graph.microsoft.com/.default")

    with pytest.raises(TokenRefusedError, match=r"invalid_scope.*DISTRIBUTIE_OAUTH_SCOPE"):
        source.token()


def test_a_server_error_is_transient(oauth_endpoint: TokenEndpoint, source: TokenSource) -> None:
    oauth_endpoint.fail(503)

    with pytest.raises(TokenUnavailableError, match="HTTP 503") as info:
        source.token()

    assert not isinstance(info.value, ConfigError)
    assert oauth_endpoint.is_current(source.token().value)  # the next try works


def test_too_many_requests_is_transient(oauth_endpoint: TokenEndpoint, source: TokenSource) -> None:
    oauth_endpoint.fail(429)

    with pytest.raises(TokenUnavailableError, match="HTTP 429"):
        source.token()


def test_an_unreachable_endpoint_is_transient() -> None:
    source = TokenSource(
        token_url=f"http://127.0.0.1:{free_port()}/t/oauth2/v2.0/token",
        client_id="c",
        client_secret=SecretStr(OAUTH_CLIENT_SECRET),
        timeout=2.0,
    )

    with pytest.raises(TokenUnavailableError, match="unreachable"):
        source.token()


def test_an_untrusted_certificate_is_a_configuration_error(
    oauth_endpoint: TokenEndpoint, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    source = source_for(oauth_endpoint, ca_file=other_ca)

    with pytest.raises(TokenRefusedError, match="certificate verification failed"):
        source.token()


def test_a_wrong_url_path_is_a_configuration_error(oauth_endpoint: TokenEndpoint) -> None:
    source = source_for(oauth_endpoint, token_url=oauth_endpoint.token_url.replace("/v2.0", ""))

    with pytest.raises(TokenRefusedError, match="invalid_request"):
        source.token()


# -- https only ------------------------------------------------------------------------------


def test_a_token_url_over_http_to_another_host_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be an https:// URL"):
        TokenSource(
            token_url="http://login.example/t/oauth2/v2.0/token",
            client_id="c",
            client_secret=SecretStr("s3cret"),
        )


def test_a_token_url_over_http_to_loopback_works(oauth_http_endpoint: TokenEndpoint) -> None:
    source = source_for(oauth_http_endpoint)

    assert oauth_http_endpoint.is_current(source.token().value)


def test_the_settings_refuse_an_http_token_url_to_another_host() -> None:
    with pytest.raises(ConfigError, match="DISTRIBUTIE_OAUTH_TOKEN_URL: must be an https://"):
        load_settings(_env_file=None, oauth_token_url="http://login.example/t/token")


def test_the_settings_for_xoauth2_need_the_mailbox_and_the_client() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, smtp_auth="xoauth2", oauth_client_id="c")

    message = str(info.value)
    assert "DISTRIBUTIE_SMTP_USERNAME" in message
    assert "DISTRIBUTIE_OAUTH_CLIENT_SECRET" in message
    assert "DISTRIBUTIE_OAUTH_TENANT" in message
    assert "DISTRIBUTIE_OAUTH_CLIENT_ID" not in message


# -- one source per process, for SMTP and IMAP ---------------------------------------------


def settings_for(endpoint: TokenEndpoint, **changes: object) -> Settings:
    values = {**endpoint.settings_values(), **changes}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_settings_for_the_same_client_share_one_source_in_a_process(
    oauth_endpoint: TokenEndpoint,
) -> None:
    first = shared_token_source(settings_for(oauth_endpoint, smtp_username="a@b.example"))
    again = shared_token_source(settings_for(oauth_endpoint, bounce_imap_folder="Bounces"))
    other = shared_token_source(settings_for(oauth_endpoint, oauth_client_secret="Other~s3cret"))

    assert again is first
    assert other is not first


def test_the_token_request_names_the_process_that_asks(
    oauth_endpoint: TokenEndpoint, source: TokenSource
) -> None:
    source.token()

    [request] = oauth_endpoint.requests
    assert request.agent.startswith("distributie/")
    assert request.pid == os.getpid()
    assert oauth_endpoint.requests_by_process() == {os.getpid(): [request]}


def test_the_bounce_mailbox_signs_in_over_imap_with_the_shared_token(
    oauth_endpoint: TokenEndpoint,
) -> None:
    with TestIMAPServer(xoauth2=True) as imap:
        settings = imap.settings(
            bounce_imap_auth="xoauth2",
            bounce_imap_password=None,
            **oauth_endpoint.settings_values(),
        )
        source = shared_token_source(settings)
        imap.access_token = source.access_token()

        with BounceMailbox(settings, access_token=source.access_token) as mailbox:
            mailbox.unprocessed()

        assert imap.logins == [("xoauth2", imap.username)]
        assert oauth_endpoint.request_count == 1  # the token fetched above, used again


# -- secrets ---------------------------------------------------------------------------------


def test_no_secret_or_token_in_any_repr_error_or_log_line(
    oauth_endpoint: TokenEndpoint, source: TokenSource, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = source.token()
    settings = Settings(_env_file=None, **oauth_endpoint.settings_values())  # type: ignore[call-arg]
    shown = [repr(source), str(source), repr(token), str(token), f"{token}", repr(settings)]
    # A server quoting the secret back in its error: the client must not pass it on.
    oauth_endpoint.refuse_client(description=f"secret {OAUTH_CLIENT_SECRET} is wrong")
    source.forget()
    with pytest.raises(TokenRefusedError) as info:
        source.token()
    shown += [str(info.value), repr(info.value)]

    assert "secret *** is wrong" in str(info.value)
    for text in [*shown, caplog.text]:
        assert OAUTH_CLIENT_SECRET not in text
        assert token.value not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


# -- XOAUTH2 ---------------------------------------------------------------------------------


def test_the_xoauth2_response_has_the_sasl_form() -> None:
    token = AccessToken("ya29.token", 3600, obtained_at=0.0)

    assert (
        xoauth2_string("a@b.example", token) == "user=a@b.example\x01auth=Bearer ya29.token\x01\x01"
    )
    decoded = base64.b64decode(xoauth2_base64("a@b.example", token))
    assert decoded == b"user=a@b.example\x01auth=Bearer ya29.token\x01\x01"
    respond = xoauth2_authobject("a@b.example", token)
    assert respond(None) == xoauth2_string("a@b.example", token)
    assert respond(b'{"status":"401"}') == ""  # the answer to an error challenge
    assert respond.imap(b"") == xoauth2_string("a@b.example", token).encode()
    assert "ya29" not in repr(respond)
