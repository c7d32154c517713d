"""dkim.py: signatures over messages built by distributie, verified by dkimpy's own verifier
against the published record; keys and domains checked; the DNS record to publish."""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dkim as dkimpy
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import Relaxed
from dkim.util import parse_tag_value

from distributie.compose.addressing import Addressing
from distributie.compose.dkim import (
    DKIMAlignmentError,
    DKIMKey,
    DKIMKeyError,
    DKIMSigner,
    aligned,
    dkim_signer,
    load_key,
    relaxed_body,
)
from distributie.compose.mailing import BUNDLED_MAILING, load_mailing
from distributie.compose.message import build_message
from distributie.compose.rendering import compile_mailing
from distributie.errors import ConfigError
from distributie.settings import Settings, load_settings
from tests.support.keys import write_pem
from tests.support.mailings import recipient

SENDER = "secretariaat@veiligheidscollege.example"
DOMAIN = "veiligheidscollege.example"
DATE = datetime(2019, 4, 8, 14, 30, 5, tzinfo=timezone(timedelta(hours=2)))


def distributie_message(reply_to: str | None = "antwoord@veiligheidscollege.example") -> bytes:
    """One recipient's message of the bundled mailing, as distributie sends it (~57 kB)."""
    compiled = compile_mailing(load_mailing(BUNDLED_MAILING))
    rendered = compiled.render(
        recipient("Súdwest-Fryslân", aanhef="mevrouw", achternaam="Özdemir").context()
    )
    addressing = Addressing(
        sender_name="Veiligheidscollege Fryslân",
        sender_address=SENDER,
        reply_to=reply_to,
        to_address="burgemeester@sudwestfryslan.example",
        run_id="20190408-143005-ab12",
        gemeente="Súdwest-Fryslân",
        recipient_key="sudwest-fryslan",
        resend=0,
    )
    return build_message(rendered, addressing, DATE)


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("dkim-keys")
    write_pem(directory / "rsa.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    write_pem(directory / "ed25519.pem", ed25519.Ed25519PrivateKey.generate())
    write_pem(
        directory / "short.pem", rsa.generate_private_key(public_exponent=65537, key_size=1024)
    )
    return directory


@pytest.fixture(scope="module")
def rsa_key(key_dir: Path) -> DKIMKey:
    return load_key(key_dir / "rsa.pem", "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")


@pytest.fixture(scope="module")
def ed25519_key(key_dir: Path) -> DKIMKey:
    return load_key(key_dir / "ed25519.pem", "ed25519", "DISTRIBUTIE_DKIM_ED25519_KEY_FILE")


@pytest.fixture
def signer(rsa_key: DKIMKey) -> DKIMSigner:
    return DKIMSigner(selector="distributie2026", domain=DOMAIN, key=rsa_key)


def dns_of(signer: DKIMSigner) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook, answering with the records the signer says to publish."""
    records = {f"{r.name}.".encode(): "".join(r.strings()).encode() for r in signer.dns_records()}

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        return records.get(name)

    return txt


def verifies(signed: bytes, signer: DKIMSigner, index: int = 0) -> bool:
    """dkimpy's verdict on one signature (as dkim.verify() gives it, for any index)."""
    try:
        return bool(dkimpy.DKIM(signed).verify(idx=index, dnsfunc=dns_of(signer)))
    except dkimpy.DKIMException:
        return False


def signature_tags(signed: bytes, index: int = 0) -> dict[bytes, bytes]:
    headers, _ = dkimpy.rfc822_parse(signed)
    values = [value for name, value in headers if name.lower() == b"dkim-signature"]
    return dict(parse_tag_value(values[index]))


# -- signing ---------------------------------------------------------------------------------


def test_a_distributie_message_signed_verifies_with_dkimpy(signer: DKIMSigner) -> None:
    message = distributie_message()

    signed = signer.sign(message)

    assert signed.endswith(message)
    assert verifies(signed, signer)
    tags = signature_tags(signed)
    assert (tags[b"a"], tags[b"c"], tags[b"d"]) == (
        b"rsa-sha256",
        b"relaxed/relaxed",
        DOMAIN.encode(),
    )


def test_the_signature_headers_are_what_sign_puts_in_front_of_the_message(
    rsa_key: DKIMKey, ed25519_key: DKIMKey
) -> None:
    signer = DKIMSigner(
        selector="distributie2026",
        domain=DOMAIN,
        key=rsa_key,
        ed25519_key=ed25519_key,
        clock=lambda: 1554726605.0,
    )
    message = distributie_message()

    prefix = signer.signature_headers(message)

    assert prefix + message == signer.sign(message)
    assert prefix.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert prefix.endswith(b"\r\n") and prefix.count(b"DKIM-Signature:") == 2
    assert all(line.startswith((b"DKIM-Signature:", b" ")) for line in prefix.splitlines())
    assert verifies(prefix + message, signer, 0) and verifies(prefix + message, signer, 1)


def test_an_ed25519_signature_comes_next_to_the_rsa_one_and_both_verify(
    rsa_key: DKIMKey, ed25519_key: DKIMKey
) -> None:
    signer = DKIMSigner(selector="s2026", domain=DOMAIN, key=rsa_key, ed25519_key=ed25519_key)

    signed = signer.sign(distributie_message())

    assert verifies(signed, signer, 0)
    assert verifies(signed, signer, 1)
    assert signature_tags(signed, 0)[b"a"] == b"rsa-sha256"
    assert (signature_tags(signed, 1)[b"a"], signature_tags(signed, 1)[b"s"]) == (
        b"ed25519-sha256",
        b"s2026-ed25519",
    )


def test_the_signed_headers_are_those_present_with_from_to_subject_reply_to_oversigned(
    signer: DKIMSigner,
) -> None:
    signed = signer.sign(distributie_message())

    listed = re.split(rb"\s*:\s*", signature_tags(signed)[b"h"])

    assert listed == [
        b"from", b"from", b"to", b"to", b"subject", b"subject", b"date", b"message-id",
        b"mime-version", b"content-type", b"reply-to", b"reply-to",
    ]  # fmt: skip


def test_an_absent_reply_to_is_still_listed_and_sender_only_when_present(
    signer: DKIMSigner,
) -> None:
    message = distributie_message(reply_to=None)
    with_sender = message.replace(b"\r\nTo:", b"\r\nSender: " + SENDER.encode() + b"\r\nTo:", 1)

    without = re.split(rb"\s*:\s*", signature_tags(signer.sign(message))[b"h"])
    signed = signer.sign(with_sender)

    assert without.count(b"reply-to") == 1 and b"sender" not in without
    assert re.split(rb"\s*:\s*", signature_tags(signed)[b"h"]).count(b"sender") == 1
    assert verifies(signed, signer)


def test_a_reply_to_added_after_signing_breaks_the_signature(signer: DKIMSigner) -> None:
    signed = signer.sign(distributie_message(reply_to=None))
    assert verifies(signed, signer)

    tampered = signed.replace(
        b"\r\nSubject:", b"\r\nReply-To: oplichter@elders.example\r\nSubject:", 1
    )

    assert not verifies(tampered, signer)


def test_a_line_added_to_the_body_breaks_the_signature(signer: DKIMSigner) -> None:
    signed = signer.sign(distributie_message())

    assert not verifies(signed + b"Nog iets.\r\n", signer)


def test_a_message_with_bare_line_feeds_is_signed_as_crlf(signer: DKIMSigner) -> None:
    message = b"From: a@veiligheidscollege.example\nTo: b@x.example\nSubject: hoi\n\nregel  1 \n"

    signed = signer.sign(message)

    assert signed.count(b"\n") == signed.count(b"\r\n")
    assert verifies(signed, signer)


def test_the_relaxed_body_is_exactly_dkimpys() -> None:
    rng = random.Random(13)
    pieces = [b" ", b"\t", b"\r\n", b"tekst", b"  ", b"=\r\n", b"\r\n\r\n", b"x \t y"]
    bodies = [b"", b"\r\n", b"\r\n\r\n", b" \r\n", distributie_message()]
    bodies += [b"".join(rng.choice(pieces) for _ in range(rng.randrange(40))) for _ in range(3000)]

    differ = [body for body in bodies if relaxed_body(body) != Relaxed.canonicalize_body(body)]

    assert differ == []


def test_a_message_without_from_is_not_signed(signer: DKIMSigner) -> None:
    with pytest.raises(ValueError, match="From"):
        signer.sign(b"To: b@x.example\r\n\r\nhoi\r\n")


# -- keys ------------------------------------------------------------------------------------


def test_an_rsa_key_shorter_than_2048_bits_is_refused(key_dir: Path) -> None:
    with pytest.raises(DKIMKeyError, match=r"1024 bits.*at least 2048") as info:
        load_key(key_dir / "short.pem", "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")

    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2


def test_a_missing_key_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(DKIMKeyError, match="DISTRIBUTIE_DKIM_KEY_FILE: cannot read"):
        load_key(tmp_path / "geen.pem", "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")


def test_a_file_that_is_no_pem_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")

    with pytest.raises(DKIMKeyError, match="is not a PEM private key"):
        load_key(path, "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")


def test_a_key_with_a_passphrase_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"wachtwoord"),
        )
    )

    with pytest.raises(DKIMKeyError, match="passphrase"):
        load_key(path, "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")


def test_an_ed25519_key_where_the_rsa_key_belongs_is_refused(key_dir: Path) -> None:
    with pytest.raises(DKIMKeyError, match="is not an RSA key"):
        load_key(key_dir / "ed25519.pem", "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")


def test_an_ed25519_key_in_dknewkeys_base64_form_loads(tmp_path: Path) -> None:
    seed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    path = tmp_path / "ed.key"
    path.write_bytes(base64.b64encode(seed) + b"\n")

    assert load_key(path, "ed25519", "DISTRIBUTIE_DKIM_ED25519_KEY_FILE").bits == 256


def test_no_key_material_in_any_repr(rsa_key: DKIMKey, signer: DKIMSigner) -> None:
    assert isinstance(rsa_key.private, rsa.RSAPrivateKey)
    secret = str(rsa_key.private.private_numbers().d)[:40]

    for text in (repr(rsa_key), repr(signer), str(signer)):
        assert secret not in text
        assert "PRIVATE KEY" not in text


# -- domain alignment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dkim_domain", "from_domain"),
    [
        ("veiligheidscollege.example", "veiligheidscollege.example"),
        ("Veiligheidscollege.Example.", "veiligheidscollege.example"),
        ("mail.veiligheidscollege.example", "veiligheidscollege.example"),
        ("veiligheidscollege.example", "bestuur.veiligheidscollege.example"),
    ],
)
def test_the_same_domain_or_a_parent_or_subdomain_aligns(
    dkim_domain: str, from_domain: str
) -> None:
    assert aligned(dkim_domain, from_domain)


@pytest.mark.parametrize(
    ("dkim_domain", "from_domain"),
    [
        ("anderdomein.example", "veiligheidscollege.example"),
        ("example", "veiligheidscollege.example"),
        ("a.veiligheidscollege.example", "b.veiligheidscollege.example"),
        ("nietveiligheidscollege.example", "veiligheidscollege.example"),
    ],
)
def test_other_domains_do_not_align(dkim_domain: str, from_domain: str) -> None:
    assert not aligned(dkim_domain, from_domain)


def dkim_settings(key_dir: Path, **changes: object) -> Settings:
    values: dict[str, Any] = {
        "dkim_selector": "distributie2026",
        "dkim_key_file": key_dir / "rsa.pem",
    }
    values.update(changes)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_dkim_domain_that_does_not_align_with_from_is_refused(key_dir: Path) -> None:
    settings = dkim_settings(key_dir, dkim_domain="anderdomein.example")

    with pytest.raises(DKIMAlignmentError, match="does not align with the From domain") as info:
        dkim_signer(settings, SENDER)

    assert info.value.exit_code == 2


def test_the_dkim_domain_is_the_from_domain_by_default(key_dir: Path) -> None:
    signer = dkim_signer(dkim_settings(key_dir), SENDER)

    assert signer is not None
    assert signer.domain == DOMAIN
    assert verifies(signer.sign(distributie_message()), signer)


def test_without_a_key_file_nothing_is_signed() -> None:
    assert dkim_signer(Settings(_env_file=None), SENDER) is None  # type: ignore[call-arg]


def test_the_settings_refuse_a_selector_without_a_key_file() -> None:
    with pytest.raises(ConfigError, match="DKIM signing also needs DISTRIBUTIE_DKIM_KEY_FILE"):
        load_settings(_env_file=None, dkim_selector="distributie2026")


def test_the_settings_refuse_an_ed25519_key_without_an_rsa_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DISTRIBUTIE_DKIM_SELECTOR, DISTRIBUTIE_DKIM_KEY_FILE"):
        load_settings(_env_file=None, dkim_ed25519_key_file=tmp_path / "ed.pem")


# -- the DNS record --------------------------------------------------------------------------


def test_the_txt_record_parses_and_holds_the_public_key(
    signer: DKIMSigner, rsa_key: DKIMKey
) -> None:
    [record] = signer.dns_records()

    assert record.name == f"distributie2026._domainkey.{DOMAIN}"
    assert all(len(part.encode()) <= 255 for part in record.strings())
    assert len(record.strings()) >= 2  # a 2048-bit key does not fit one string
    tags = parse_tag_value("".join(record.strings()).encode())
    assert (tags[b"v"], tags[b"k"]) == (b"DKIM1", b"rsa")
    published = serialization.load_der_public_key(base64.b64decode(tags[b"p"]))
    assert isinstance(published, rsa.RSAPublicKey)
    assert isinstance(rsa_key.private, rsa.RSAPrivateKey)
    assert published.public_numbers() == rsa_key.private.public_key().public_numbers()


def test_the_zone_line_quotes_every_string(signer: DKIMSigner) -> None:
    [record] = signer.dns_records()

    line = record.zone_line()

    assert line.startswith(f'distributie2026._domainkey.{DOMAIN}. IN TXT ( "v=DKIM1; k=rsa; p=')
    assert re.findall(r'"([^"]*)"', line) == record.strings()
