"""The one check of an e-mail address: normalised as SMTP needs it, refused with a reason."""

from __future__ import annotations

import pytest

from distributie.compose.addresses import AddressError, normalise_address


def test_an_international_domain_becomes_punycode() -> None:
    assert normalise_address("burgemeester@bünnik.example") == "burgemeester@xn--bnnik-kva.example"


def test_a_non_ascii_mailbox_name_is_refused_saying_why() -> None:
    with pytest.raises(AddressError, match="before the @ contains non-ASCII"):
        normalise_address("jöhn@x.example")


def test_every_address_on_a_remembered_domain_is_still_checked_whole() -> None:
    assert normalise_address("a@gemeente.example") == "a@gemeente.example"

    with pytest.raises(AddressError, match="invalid characters before the @-sign"):
        normalise_address("a b@gemeente.example")
    assert normalise_address("b@gemeente.example") == "b@gemeente.example"


def test_a_bad_domain_is_refused_every_time_it_comes() -> None:
    for _ in range(2):
        with pytest.raises(AddressError, match="should have a period"):
            normalise_address("a@localhost")


def test_a_domain_is_checked_once_however_many_addresses_use_it() -> None:
    from distributie.compose import addresses

    check = addresses._checker["validate_email_domain_name"]
    before = check.cache_info().hits
    for n in range(5):
        normalise_address(f"burgemeester{n}@eenmaal-gecontroleerd.example")

    assert check.cache_info().hits - before == 4
