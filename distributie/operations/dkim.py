"""DKIM as an operator sees it: is the key good and aligned with the mailing's From (for `check`
and `send`), and the DNS TXT record(s) to publish (`distributie dkim dns`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from distributie.compose.mailing import Mailing, load_mailing
from distributie.errors import UsageError
from distributie.settings import Settings

if TYPE_CHECKING:
    from distributie.compose.dkim import DKIMSigner, DNSRecord

__all__ = ["DKIMSetup", "dkim_dns", "dkim_setup"]


@dataclass(frozen=True)
class DKIMSetup:
    """How messages of a mailing are signed: checked offline (the key loads, is long enough, and
    the domain aligns with From); whether DNS publishes the matching record is not checked."""

    domain: str
    selectors: list[str]
    keys: list[str]  # e.g. "RSA 2048 bits", "ed25519"
    from_address: str
    records: list[DNSRecord]


def _setup(signer: DKIMSigner, from_address: str) -> DKIMSetup:
    keys = [
        f"RSA {key.bits} bits" if key.algorithm == "rsa-sha256" else "ed25519"
        for key in signer.keys
    ]
    return DKIMSetup(
        signer.domain, list(signer.selectors), keys, from_address, signer.dns_records()
    )


def dkim_setup(settings: Settings, mailing: Mailing) -> DKIMSetup | None:
    """The signing this mailing gets, or None without DKIM settings. Raises DKIMKeyError or
    DKIMAlignmentError (exit code 2) when the workers could not sign its messages."""
    if settings.dkim_key_file is None:
        return None
    # dkimpy and cryptography are slow to import; only a deployment that signs needs them.
    from distributie.compose.dkim import dkim_signer

    from_address = mailing.spec.sender.from_address
    signer = dkim_signer(settings, from_address)
    return None if signer is None else _setup(signer, from_address)


def dkim_dns(settings: Settings, mailing_dir: Path) -> DKIMSetup:
    """What to publish for signing this mailing's messages (its From domain when
    DISTRIBUTIE_DKIM_DOMAIN is not set)."""
    setup = dkim_setup(settings, load_mailing(mailing_dir))
    if setup is None:
        raise UsageError(
            "DKIM is not set up: set DISTRIBUTIE_DKIM_SELECTOR and DISTRIBUTIE_DKIM_KEY_FILE "
            "(an RSA key of at least 2048 bits: openssl genrsa -out dkim.pem 2048)"
        )
    return setup
