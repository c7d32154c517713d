"""`check`, `ping`, `send` and `dkim dns` with Microsoft 365 settings, as real processes against the
real token endpoint and XOAUTH2 SMTP server: the sign-in tried and any refusal said in one line
(exit 2, no secret), DKIM keys and alignment checked, the TXT record to publish, on behalf of."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dkim as dkimpy
import pytest

from distributie.compose.dkim import DKIMSigner, load_key
from tests.support.cli import distributie as run_distributie
from tests.support.keys import write_rsa_key
from tests.support.mailings import copy_mailing, replace_in
from tests.support.oauth import OAUTH_CLIENT_SECRET, TokenEndpoint
from tests.support.xoauth2_smtp import XOAuth2SMTPServer

WRONG_SECRET = "Wrong~cl1ent-S3cret.value_9876543210"
SELECTOR = "distributie2026"
BUNDLED_DOMAIN = "veiligheidscollege-mn.example"


def distributie(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    wide = {**(env or {}), "COLUMNS": "300", "NO_COLOR": "1"}
    result = run_distributie(*args, env=wide, cwd=cwd, timeout=60)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def dkim_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    key = write_rsa_key(tmp_path_factory.mktemp("dkim") / "dkim.pem")
    return {"DISTRIBUTIE_DKIM_SELECTOR": SELECTOR, "DISTRIBUTIE_DKIM_KEY_FILE": str(key)}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "werkmap"
    folder.mkdir()
    return folder


# -- the sign-in -----------------------------------------------------------------------------


def test_check_signs_in_with_oauth2_and_says_so(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, work: Path
) -> None:
    result = distributie("check", env=xoauth2_smtp_server.environ(), cwd=work)

    assert result.returncode == 0, result.stderr
    assert (
        f"Sign-in:     OAuth2 (XOAUTH2) as {xoauth2_smtp_server.mailbox} at "
        f"127.0.0.1:{xoauth2_smtp_server.port}: OK, token valid 20 s"
    ) in result.stdout
    assert [s.accepted for s in xoauth2_smtp_server.sign_ins] == [True]
    assert xoauth2_smtp_server.commands()[-1] == "QUIT"
    assert oauth_endpoint.request_count == 1
    assert xoauth2_smtp_server.messages == []


def test_check_with_a_wrong_client_secret_exits_2_with_the_reason_in_one_line(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, work: Path
) -> None:
    env = {**xoauth2_smtp_server.environ(), "DISTRIBUTIE_OAUTH_CLIENT_SECRET": WRONG_SECRET}

    result = distributie("check", env=env, cwd=work)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"the OAuth2 sign-in for {xoauth2_smtp_server.mailbox} failed: the token endpoint "
        f"127.0.0.1:{oauth_endpoint.port} refused the client (invalid_client: AADSTS7000215: "
        f"Invalid client secret.); check DISTRIBUTIE_OAUTH_CLIENT_ID and _CLIENT_SECRET"
    ]
    output = result.stdout + result.stderr
    assert WRONG_SECRET not in output and OAUTH_CLIENT_SECRET not in output
    assert WRONG_SECRET[:10] not in output
    assert xoauth2_smtp_server.connections == 0


def test_check_exits_2_when_the_server_refuses_the_token_for_the_mailbox(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, work: Path
) -> None:
    env = {**xoauth2_smtp_server.environ(), "DISTRIBUTIE_SMTP_USERNAME": "ander@elders.example"}

    result = distributie("check", env=env, cwd=work)

    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]  # after the log lines of the token requests
    assert line.startswith(
        f"the OAuth2 sign-in for ander@elders.example failed: 127.0.0.1:"
        f"{xoauth2_smtp_server.port} answered 535 5.7.3 Authentication unsuccessful; "
    )
    assert "service principal" in line
    assert not any(token[:20] in line for token in oauth_endpoint.issued)


def test_check_exits_1_when_the_token_endpoint_is_in_trouble(
    xoauth2_smtp_server: XOAuth2SMTPServer, oauth_endpoint: TokenEndpoint, work: Path
) -> None:
    oauth_endpoint.fail(503)

    result = distributie("check", env=xoauth2_smtp_server.environ(), cwd=work)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"the OAuth2 sign-in for {xoauth2_smtp_server.mailbox} could not be tried: the token "
        f"endpoint 127.0.0.1:{oauth_endpoint.port} answered HTTP 503; will try again"
    )


def test_ping_with_a_wrong_client_secret_exits_2_with_the_reason(
    xoauth2_smtp_server: XOAuth2SMTPServer, work: Path
) -> None:
    env = {**xoauth2_smtp_server.environ(), "DISTRIBUTIE_OAUTH_CLIENT_SECRET": WRONG_SECRET}

    result = distributie("ping", env=env, cwd=work)

    assert result.returncode == 2
    assert "refused the client (invalid_client" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert WRONG_SECRET not in result.stdout + result.stderr


def test_ping_signs_in_before_counting_the_workers(
    xoauth2_smtp_server: XOAuth2SMTPServer, redis_url: str, work: Path
) -> None:
    env = {**xoauth2_smtp_server.environ(), "DISTRIBUTIE_REDIS_URL": redis_url}

    result = distributie("ping", "--timeout", "0.3", env=env, cwd=work)

    assert result.returncode == 1  # no worker runs
    assert result.stdout.splitlines() == [
        f"OAuth2 sign-in as {xoauth2_smtp_server.mailbox}: OK",
        "0 worker(s) online",
    ]


# -- DKIM ------------------------------------------------------------------------------------


def test_check_reports_the_dkim_signing_and_that_dns_is_not_checked(
    dkim_env: dict[str, str], work: Path
) -> None:
    result = distributie("check", env=dkim_env, cwd=work)

    assert result.returncode == 0, result.stderr
    assert (
        f"DKIM:        signed for {BUNDLED_DOMAIN} (selector {SELECTOR}; RSA 2048 bits), "
        f"aligned with From"
    ) in result.stdout
    assert result.stdout.count("cannot be checked offline") == 1


def test_check_refuses_an_rsa_key_shorter_than_2048_bits(tmp_path: Path, work: Path) -> None:
    short = write_rsa_key(tmp_path / "short.pem", 1024)
    env = {"DISTRIBUTIE_DKIM_SELECTOR": SELECTOR, "DISTRIBUTIE_DKIM_KEY_FILE": str(short)}

    result = distributie("check", env=env, cwd=work)

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"DISTRIBUTIE_DKIM_KEY_FILE: {short} is an RSA key of 1024 bits; receivers want at "
        f"least 2048"
    )


def test_check_refuses_a_key_file_that_does_not_load(tmp_path: Path, work: Path) -> None:
    broken = tmp_path / "dkim.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    env = {"DISTRIBUTIE_DKIM_SELECTOR": SELECTOR, "DISTRIBUTIE_DKIM_KEY_FILE": str(broken)}

    result = distributie("check", env=env, cwd=work)

    assert result.returncode == 2
    assert result.stderr.strip() == f"DISTRIBUTIE_DKIM_KEY_FILE: {broken} is not a PEM private key"


def test_check_refuses_a_dkim_domain_not_aligned_with_from(
    dkim_env: dict[str, str], work: Path
) -> None:
    env = {**dkim_env, "DISTRIBUTIE_DKIM_DOMAIN": "elders.example"}

    result = distributie("check", env=env, cwd=work)

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"DISTRIBUTIE_DKIM_DOMAIN: elders.example does not align with the From domain "
        f"{BUNDLED_DOMAIN}, so DMARC would not count the signature"
    )


def test_send_refuses_a_dkim_key_that_does_not_load_before_queueing_anything(
    tmp_path: Path, work: Path
) -> None:
    env = {
        "DISTRIBUTIE_DKIM_SELECTOR": SELECTOR,
        "DISTRIBUTIE_DKIM_KEY_FILE": str(tmp_path / "missing.pem"),
    }

    result = distributie("send", "--yes", env=env, cwd=work)

    assert result.returncode == 2
    assert result.stderr.startswith("DISTRIBUTIE_DKIM_KEY_FILE: cannot read ")
    assert not (work / ".distributie").exists()  # no ledger was even started


def test_dkim_dns_prints_the_record_that_verifies_the_signatures(
    dkim_env: dict[str, str], work: Path
) -> None:
    result = distributie("dkim", "dns", env=dkim_env, cwd=work)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"Name:  {SELECTOR}._domainkey.{BUNDLED_DOMAIN}" in lines
    [value] = [line.removeprefix("Value: ") for line in lines if line.startswith("Value: ")]
    key = load_key(Path(dkim_env["DISTRIBUTIE_DKIM_KEY_FILE"]), "rsa", "key")
    signer = DKIMSigner(selector=SELECTOR, domain=BUNDLED_DOMAIN, key=key)
    signed = signer.sign(f"From: a@{BUNDLED_DOMAIN}\r\nSubject: x\r\n\r\nHallo.\r\n".encode())
    published = {f"{SELECTOR}._domainkey.{BUNDLED_DOMAIN}.".encode(): value.encode()}
    assert dkimpy.verify(signed, dnsfunc=lambda name, timeout=5: published.get(name))


def test_dkim_dns_without_dkim_settings_says_what_to_set(work: Path) -> None:
    result = distributie("dkim", "dns", cwd=work)

    assert result.returncode == 2
    assert "DISTRIBUTIE_DKIM_SELECTOR and DISTRIBUTIE_DKIM_KEY_FILE" in result.stderr


# -- on behalf of ----------------------------------------------------------------------------


def test_check_shows_from_and_sender_when_sending_on_behalf_of(
    dkim_env: dict[str, str], tmp_path: Path, work: Path
) -> None:
    mailing = copy_mailing(tmp_path)
    replace_in(
        mailing / "mailing.toml",
        'reply_to = "antwoord@testregio.example"',
        'reply_to = "antwoord@testregio.example"\n'
        'on_behalf_of = "Voorzitter Veiligheidsberaad <voorzitter@beraad.example>"',
    )

    result = distributie("check", "--mailing", str(mailing), env=dkim_env, cwd=work)

    assert result.returncode == 0, result.stderr
    assert "From:        Voorzitter Veiligheidsberaad <voorzitter@beraad.example>" in result.stdout
    assert (
        "Sender:      Secretariaat Testregio <secretariaat@testregio.example> (sends on behalf "
        "of From: the mailbox needs the right to, on Microsoft 365 Send on Behalf)"
    ) in result.stdout
    assert "DKIM:        signed for beraad.example" in result.stdout
